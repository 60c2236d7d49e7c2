"""The README is the user's front door: it opens with the two commands (main job, tests) that CI
and users run, then a quick start whose inventory validates, then the most used inventory
variables with their defaults; the long sections live in docs/*.md, every one linked from the
README, and the generated tables there are the generators' output."""

import re
from pathlib import Path

import pytest
from tgi_infra.config import inventory_variables_markdown, validate_inventory
from tgi_infra.config.docs import (
    COMMON_HOST_FIELDS,
    COMMON_SERVICE_FIELDS,
    common_variables_markdown,
)
from tgi_infra.config.loading import host_key

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
DOCS = REPO / "docs"


def _generated(text: str, tag: str) -> str:
    m = re.search(rf"<!-- {tag}:start -->\n(.*)<!-- {tag}:end -->", text, re.S)
    assert m, f"the {tag} table is missing"
    return m.group(1)


def test_variables_doc_table_matches_the_config_model():
    doc = (DOCS / "variables.md").read_text()
    table = _generated(doc, "inventory-variables")
    assert table.strip() == inventory_variables_markdown().strip(), (
        "docs/variables.md's table is stale: regenerate it with `python -m tgi_infra variables`"
    )


def test_readme_variables_table_matches_the_config_model():
    table = _generated(README, "common-variables")
    assert table == common_variables_markdown(), (
        "README's variables table is stale: regenerate it with "
        "tgi_infra.config.docs.common_variables_markdown()"
    )
    # each row has the model's default: the short table is a subset of the full one
    full = inventory_variables_markdown()
    for field in COMMON_HOST_FIELDS:
        assert f"| `{host_key(field)}` |" in table and f"| `{host_key(field)}` |" in full
    for field in COMMON_SERVICE_FIELDS:
        assert f"| `{field}` |" in table and f"| `{field}` |" in full


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (REPO / ".ci/run").read_text()
    assert "scripts/test.sh" in ci
    for script in ("scripts/demo.sh", "scripts/test.sh", "scripts/setup.sh"):
        assert (REPO / script).exists()


def test_readme_first_screen_has_install_inventory_deploy_and_smoke():
    """What it is, install, the inventory, deploy and smoke come before any long section."""
    first_screen = README.split("\n## Inventory variables", 1)[0]
    assert len(first_screen.splitlines()) <= 60, "the quick start grew past one screen"
    for step in (
        "pip install -e .",
        "inventories/gpu.py",
        "tgi-infra validate",
        "tgi-infra deploy",
        "tgi-infra smoke",
    ):
        assert step in first_screen, step
    order = [README.index(h) for h in ("## Inventory variables", "## Reading the results")]
    assert order == sorted(order)


def test_readme_inventory_example_validates():
    """The quick start's inventory, as written, is a valid inventory."""
    section = README.split("## On your GPU hosts", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)  # a pyinfra inventory is plain Python: lists of (host, data)
    hosts = [(name, data) for group in ("gpu_servers",) for name, data in namespace[group]]
    assert hosts, "the example has no host"
    configs = validate_inventory(hosts)
    assert not configs.warnings
    (cfg,) = configs.values()
    assert [s.model_id for s in cfg.tgi_services] == ["meta-llama/Llama-3.1-8B-Instruct"]


def _links(text: str) -> set[str]:
    return {m for m in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) if "://" not in m}


@pytest.mark.parametrize("doc", ["README.md", *sorted(p.name for p in DOCS.glob("*.md"))])
def test_relative_links_resolve(doc):
    path = REPO / doc if doc == "README.md" else DOCS / doc
    missing = [link for link in _links(path.read_text()) if not (path.parent / link).exists()]
    assert not missing, f"{doc} links to missing files: {missing}"


def test_every_doc_is_linked_from_the_readme():
    linked = {(REPO / link).resolve() for link in _links(README)}
    unlinked = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not unlinked, f"docs not linked from README.md: {unlinked}"
