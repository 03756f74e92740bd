"""The Gadget-2 binary record layout shared by the binary reader and the writer.

Record markers, SnapFormat-2 block labels, the supported block widths and the 256-byte
``io_header`` as a numpy dtype. Private to :mod:`wlcnn.io`; :func:`gadget_header_dtype` is
re-exported by :mod:`wlcnn.io.gadget`.
"""

from __future__ import annotations

import numpy as np

from wlcnn.io._gadget_common import N_TYPES

__all__ = [
    "BYTEORDER_NAMES",
    "FLOAT_WIDTHS",
    "FMT2_LABEL_PAYLOAD",
    "FMT2_LABEL_RECORD",
    "HEADER_BYTES",
    "ID_WIDTHS",
    "MARKER_BYTES",
    "MARKER_MODULUS",
    "MAX_RECORD_BYTES",
    "gadget_header_dtype",
]

#: Size of the Gadget-2 header (``struct io_header``) in bytes.
HEADER_BYTES = 256
#: Size of one Fortran record marker.
MARKER_BYTES = 4
#: Payload of a SnapFormat-2 label record: 4-character block name + int32 size of what follows.
FMT2_LABEL_PAYLOAD = 8
#: Whole SnapFormat-2 label record including its two markers.
FMT2_LABEL_RECORD = FMT2_LABEL_PAYLOAD + 2 * MARKER_BYTES
#: Supported widths of floating-point blocks (single, or OUTPUT_IN_DOUBLEPRECISION) and IDs.
FLOAT_WIDTHS = (4, 8)
ID_WIDTHS = (4, 8)
#: Record markers are 32-bit; Gadget-2 itself cannot write records of 2 GiB or more.
MAX_RECORD_BYTES = 2**31 - 1
#: Markers of records above 4 GiB (written by some codes) wrap around modulo 2**32.
MARKER_MODULUS = 2**32
#: Byte-order prefixes of numpy and struct, by name.
BYTEORDER_NAMES = {"<": "little", ">": "big"}


def gadget_header_dtype(byteorder: str = "<") -> np.dtype:
    """Return the 256-byte Gadget-2 ``io_header`` as a packed numpy structured dtype.

    Parameters
    ----------
    byteorder
        ``"<"`` (little-endian) or ``">"`` (big-endian).
    """
    o = byteorder
    dtype = np.dtype(
        [
            ("npart", f"{o}i4", (N_TYPES,)),
            ("mass", f"{o}f8", (N_TYPES,)),
            ("time", f"{o}f8"),
            ("redshift", f"{o}f8"),
            ("flag_sfr", f"{o}i4"),
            ("flag_feedback", f"{o}i4"),
            ("npart_total", f"{o}u4", (N_TYPES,)),
            ("flag_cooling", f"{o}i4"),
            ("num_files", f"{o}i4"),
            ("box", f"{o}f8"),
            ("omega0", f"{o}f8"),
            ("omega_lambda", f"{o}f8"),
            ("hubble", f"{o}f8"),
            ("flag_stellarage", f"{o}i4"),
            ("flag_metals", f"{o}i4"),
            ("npart_total_highword", f"{o}u4", (N_TYPES,)),
            ("flag_entropy_instead_u", f"{o}i4"),
            ("fill", "V60"),
        ]
    )
    assert dtype.itemsize == HEADER_BYTES  # a layout error here would corrupt every file
    return dtype
