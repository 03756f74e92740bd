# Map statistics (SPEC §10, issue 15): two sets of κ maps compared with the pixel histogram, the
# power spectrum, the Minkowski functionals and the peak counts, bin by bin (KS / AD tests), and
# their correlation matrices. The pairs are declared in statistics.compare.

if COMPARE_PAIRS:

    rule compare_maps:
        input:
            unpack(lambda wc: compare_map_inputs(wc.name)),
        output:
            json=str(OUT / "statistics" / "compare" / "{name}" / "comparison.json"),
            bands=report(str(OUT / "statistics" / "compare" / "{name}" / "bands.png"), category="Map statistics",
                         subcategory="{name}", caption="../report/compare_maps.rst"),
            distributions=report(str(OUT / "statistics" / "compare" / "{name}" / "distributions.png"),
                                 category="Map statistics", subcategory="{name}",
                                 caption="../report/compare_maps.rst"),
            pvalues=report(str(OUT / "statistics" / "compare" / "{name}" / "pvalues.png"), category="Map statistics",
                           subcategory="{name}", caption="../report/compare_maps.rst"),
            correlation=report(str(OUT / "statistics" / "compare" / "{name}" / "correlation_difference.png"),
                               category="Map statistics", subcategory="{name}",
                               caption="../report/compare_maps.rst"),
        params:
            config=lambda wc: compare_config(wc.name),
        log:
            str(LOGS / "compare_maps" / "{name}.log"),
        benchmark:
            str(BENCH / "compare_maps" / "{name}.tsv")
        wildcard_constraints:
            name=r"[A-Za-z0-9_.-]+",
        resources:
            mem_mb=4000,
            runtime=20,
        conda:
            str(ENVS / "maps.yaml")
        script:
            "../scripts/compare_maps.py"
