"""The errors of getting weights: unavailable, unsafe to unpickle, not the registered layout, checksum mismatch."""


class WeightsUnavailableError(FileNotFoundError):
    """The weights are not cached and could not be downloaded (offline, no network, or not on the server)."""


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs arbitrary unpickling and is not pinned by checksum to its family's repo."""


class CheckpointFormatError(ValueError):
    """A checkpoint's contents do not match the architecture it is registered for."""


class ChecksumMismatchError(RuntimeError):
    """A downloaded checkpoint's sha256 differs from the one pinned in its spec."""
