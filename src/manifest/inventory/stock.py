"""Stock arithmetic, packed beside the handler: the manifest's patterns take every .py file."""


def total(levels):
    return sum(int(count) for count in levels.values())
