import json

import click


@click.command("schema")
def command() -> None:
    """Print the JSON Schema of cluster.yml (for editors)."""
    from provision.config.model import ClusterConfig

    schema = ClusterConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "provision cluster.yml"
    click.echo(json.dumps(schema, indent=2))
