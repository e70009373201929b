import json
from pathlib import Path

import click


@click.command("schema")
@click.option(
    "--reference",
    is_flag=True,
    help="print the config reference (Markdown, from the model) instead of the JSON Schema",
)
@click.option(
    "--write",
    "write",
    type=click.Path(path_type=Path, dir_okay=False),
    help="with --reference: replace the generated block of this file (docs/config.md)",
)
def command(reference: bool, write: Path | None) -> None:
    """Print the JSON Schema of cluster.yml (for editors), or its reference."""
    if write is not None and not reference:
        raise click.UsageError("--write goes with --reference")
    if reference:
        from provision.cli.common import error_exit
        from provision.config.reference import reference_markdown, write_into

        if write is None:
            click.echo(reference_markdown(), nl=False)
            return
        with error_exit():
            changed = write_into(write)
        click.echo(f"{write}: {'written' if changed else 'already the model'}")
        return
    from provision.config.model import ClusterConfig

    schema = ClusterConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "provision cluster.yml"
    click.echo(json.dumps(schema, indent=2))
