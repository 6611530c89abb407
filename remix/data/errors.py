"""The one error the data layer raises for bad or missing data (a ValueError, so callers can catch it
with the other bad-input errors); its message always names the file or directory and the remedy."""


class DataError(ValueError):
    pass
