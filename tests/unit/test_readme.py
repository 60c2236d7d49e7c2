"""The README documents every inventory variable with its default, and opens with the two
commands (main job, tests) that CI and users run."""

import re
from pathlib import Path

from tgi_infra.config import inventory_variables_markdown

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_readme_variables_table_matches_the_config_model():
    m = re.search(
        r"<!-- inventory-variables:start -->\n(.*)<!-- inventory-variables:end -->", README, re.S
    )
    assert m, "README lacks the inventory variables section"
    assert m.group(1).strip() == inventory_variables_markdown().strip(), (
        "README's table is stale: regenerate it with `python -m tgi_infra variables`"
    )


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (REPO / ".ci/run").read_text()
    assert "scripts/test.sh" in ci
    for script in ("scripts/demo.sh", "scripts/test.sh", "scripts/setup.sh"):
        assert (REPO / script).exists()
