"""User-facing errors: the CLI prints these as one clear message instead of a traceback."""


class GLTError(Exception):
    """Base class for errors caused by input the user gave (files, arguments, data)."""


class DataError(GLTError, ValueError):
    """Input data that cannot be used: a malformed file, a wrong shape, NaN."""


class DataWarning(UserWarning):
    """Data that can be used but probably should not be as it is: wrong units, y pointing down."""


class SkeletonFileError(DataError):
    """A `.skeleton` (or other recording) file that cannot be parsed.

    The message names the file, the line (1-based) and what was expected there.
    """

    def __init__(self, path, line: int | None, message: str):
        self.path, self.line, self.reason = str(path), line, message
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
