"""Rich renderables that choose their layout by the width they are printed at."""

from __future__ import annotations


class FirstThatFits:
    """The first of several layouts of the same content whose narrowest form fits the width
    it is printed at (the last one when none does)."""

    def __init__(self, *layouts) -> None:
        self.layouts = layouts

    @staticmethod
    def _narrowest(console, options, layout) -> int:
        from rich.measure import Measurement

        # measured unclamped: Rich clamps a measure to the width it is given
        return Measurement.get(console, options.update_width(4000), layout).minimum

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        largest = Measurement.get(console, options, self.layouts[0]).maximum
        narrowest = min(self._narrowest(console, options, layout) for layout in self.layouts)
        return Measurement(narrowest, max(narrowest, largest)).clamp(
            max_width=options.max_width)

    @staticmethod
    def _characters(console, options, layout) -> list[str]:
        """The characters a layout prints at ``options``' width, sorted, without the blanks
        and the box-drawing rules (whose length is the table's width)."""
        lines = console.render_lines(layout, options, pad=False)
        return sorted(char for line in lines for segment in line if not segment.control
                      for char in segment.text if char != " " and not "─" <= char <= "╿")

    def _fits(self, console, options, layout) -> bool:
        if self._narrowest(console, options, layout) > options.max_width:
            return False
        # Rich's measure of a table can be a column or two short of what it then lays the
        # table out in (it shrinks the wrapping columns evenly, below their minimum, and
        # crops the last column to make up: an "ok" header printed "o"): a layout fits
        # when it prints every character it prints at its own width, wrapped but not cut
        wide = options.update_width(max(options.max_width, 4000))
        return (self._characters(console, options, layout)
                == self._characters(console, wide, layout))

    def __rich_console__(self, console, options):
        for layout in self.layouts[:-1]:
            if self._fits(console, options, layout):
                yield layout
                return
        yield self.layouts[-1]
