"""A click command whose --help shows its options in titled groups, in the order given, so
the few options used every day are not lost among the many a recipe or an ablation needs."""

import click


class GroupedCommand(click.Command):
    """`groups`: [(title, [option name, ...]), ...]; an option in no group is listed last,
    under "Other options"."""

    def __init__(self, *args, groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.groups = list(groups)

    def format_options(self, ctx, formatter):
        records = {param.name: param.get_help_record(ctx) for param in self.get_params(ctx)}
        listed = set()
        for title, names in self.groups:
            rows = [records[name] for name in names if records.get(name)]
            listed.update(names)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        rest = [record for name, record in records.items() if record and name not in listed]
        if rest:
            with formatter.section("Other options"):
                formatter.write_dl(rest)
