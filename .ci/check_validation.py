"""CI check: the demo maps pass the Fig. 4 validation against Born-Limber/halofit theory.

Usage: python .ci/check_validation.py results/demo
"""

import json
import sys
from pathlib import Path

result = json.loads((Path(sys.argv[1]) / "validation" / "power_spectrum.json").read_text())
print(
    f"Fig. 4 check: {result['n_maps']} maps, {result['k_min']:.3f} <= k <= {result['k_max']:.3f} h/Mpc, "
    f"validated l per bin from {result['ell_min_validated']} to {result['ell_max_validated']}"
)
for key in ("no_ia", "ia", "gi", "ii"):
    print(f"  {key:5s} max |sim/theory - 1| = {result[key]['max_deviation']}")
problems = []
if not result["passed"]:
    problems.append(
        f"kappa spectra deviate by more than {result['tolerance']:.0%} (or a bin is never validated)"
    )
if not result["passed_ia"]:
    problems.append(f"GI/II spectra deviate by more than {result['tolerance_ia']:.0%}")
if problems:
    sys.exit("Fig. 4 validation failed: " + "; ".join(problems))
print("Fig. 4 validation passed")
