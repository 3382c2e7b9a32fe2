from conftest import REPO

from isdaa.config_docs import render


def test_config_readme_matches_schema():
    assert (REPO / "config" / "README.md").read_text() == render(), (
        "config/README.md is stale: run `python -m isdaa.config_docs > config/README.md`"
    )


SCHEMA_KEYWORDS = {
    "$schema", "$ref", "type", "description", "default", "enum", "minimum", "maximum", "exclusiveMinimum",
    "items", "minItems", "uniqueItems", "properties", "additionalProperties", "required", "minProperties",
    "maxProperties", "minLength", "propertyNames", "pattern",
    "definitions",
}


def test_schema_uses_only_known_keywords():
    """A comma inside an unquoted YAML flow mapping silently cuts a description and
    invents a key; jsonschema would ignore it. Catch that here."""
    from isdaa.config import load_schema

    def walk(node, path):
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if not path.endswith(("properties", "definitions")):
                assert key in SCHEMA_KEYWORDS, f"unknown schema keyword {key!r} at {path}"
            walk(value, f"{path}.{key}")

    walk(load_schema(), "")
