"""Reads the raw MNIST IDX files (shared by the comparison scripts)."""
import struct

import numpy as np


def read_idx(path):
    """The array of an IDX file of unsigned bytes, shaped by its header."""
    with open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4 : 4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)
