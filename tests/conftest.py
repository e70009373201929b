import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "inventories" / "lab" / "cluster.yml"


@pytest.fixture(scope="session")
def lab_data() -> dict:
    return yaml.safe_load(LAB.read_text())


@pytest.fixture
def lab(lab_data) -> dict:
    """A fresh, mutable copy of the default lab config."""
    return copy.deepcopy(lab_data)


@pytest.fixture
def write_config(tmp_path):
    def write(data: dict | str, name: str = "cluster.yml") -> Path:
        path = tmp_path / "inv" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write
