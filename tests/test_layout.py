"""The package's architecture, checked from its source: layers, no import circle, one composition root.

Every import of an ``anime_gan`` module counts, at the top of a file or inside a
function (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "anime_gan"

# Bottom to top: a module may import from its own layer or a lower one, never from a higher one.
LAYERS = (
    ("errors", "device"),  # what everything may use
    ("data",),  # datasets, image files, pixel ranges, edge blur
    ("models", "losses"),  # networks and pure loss functions
    ("config",),  # typed, strict configs (they check resolutions against the models' rules)
    ("training",),  # the loops and their parts, fed built objects
    ("metrics",),  # distances, detector, feature extractors
    ("style",),  # style transfer and its feature backbones
    ("experiment",),  # the composition root: configs -> objects, runs, trained networks
    ("translation",),  # using and scoring trained translators
    ("params", "pipeline", "reports"),  # the DVC pipeline, its parameters and its tables and figures
    ("commands", "cli", "__main__"),  # the command line
)
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}
# Functions that turn config sections into objects: only the composition root calls them.
BUILDERS = {"build_generator", "build_discriminator", "build_translator", "build_loss", "build_optimizer",
            "build_scheduler", "build_translation_scheduler"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported anime_gan module, line) for every import in ``path``; ``from pkg import mod`` names the module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("anime_gan")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("anime_gan"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append((submodule if submodule in known else node.module, node.lineno))
    return found


def layer(module: str) -> int:
    component = module.split(".")[1] if module != "anime_gan" else "__init__"
    assert component in LAYER_OF, f"{module}: its top-level part {component!r} has no layer in tests/test_layout.py"
    return LAYER_OF[component]


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {target for target, _ in imports_of(path, set(mods)) if target != name} for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_cycle_finder_finds_a_planted_circle_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_among_the_packages_modules():
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_module_imports_from_a_layer_above_its_own():
    mods = modules()
    wrong = []
    for name, path in mods.items():
        if name == "anime_gan":
            continue
        for target, line in imports_of(path, set(mods)):
            if target != "anime_gan" and layer(target) > layer(name):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} (a higher layer)")
    assert not wrong, "\n".join(wrong)


def test_the_layer_check_sees_a_planted_upward_import(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from anime_gan.experiment import run\n")
    (target, line), = imports_of(planted, set(modules()))
    assert (target, line) == ("anime_gan.experiment", 2)
    assert layer(target) > layer("anime_gan.training.loop")


def test_only_the_composition_root_builds_objects_from_configs():
    callers = []
    for name, path in modules().items():
        if name.startswith("anime_gan.experiment"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if called in BUILDERS:
                    callers.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} calls {called}")
    assert not callers, "\n".join(callers)


@pytest.mark.parametrize("part", ["loop", "gan_trainer", "cycle_trainer", "growth", "ema", "memory", "image_pool",
                                  "checkpoint", "run_log", "speed", "distributed", "stream", "sources"])
def test_the_training_parts_live_in_one_package(part):
    assert (PACKAGE / "training" / f"{part}.py").is_file()


def test_checkpoints_hold_no_pickled_class_of_the_package(tmp_path):
    """Checkpoints are tensors, numbers, strings and plain containers only, so moving or renaming any module of the
    package can never break loading an old one: ``torch.load(weights_only=True)`` reads a GAN run's (EMA, memory
    bank, blur source, scheduler) and a translator's (pools, EMA) checkpoint."""
    import torch

    from test_train import RICH, synthetic_images, tiny
    from test_translate import tiny as tiny_translation
    from test_translate import trainer_for

    from anime_gan.experiment import build_trainer

    build_trainer(tiny(*RICH, "train.epochs=2"), tmp_path / "gan", images=synthetic_images()).fit()
    trainer_for(tiny_translation("train.ema_decay=0.9", config="s000_translator_cyclegan"), tmp_path / "cycle").fit()
    for run in ("gan", "cycle"):
        state = torch.load(tmp_path / run / "checkpoint.pt", weights_only=True)
        assert state["iteration"] > 0
