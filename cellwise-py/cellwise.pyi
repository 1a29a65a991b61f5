"""Type stubs of the ``cellwise`` extension module (written by hand; keep in step with src/)."""

import os
from typing import Any, Iterable, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str

IndexArray = npt.ArrayLike
"""Integer degree indices: ``(slots, steps)`` for one schedule, ``(n, slots, steps)`` for a
batch; entry ``[s, t]`` is the index of the degree among slot ``s``'s candidates
(``Problem.degrees[s]``, highest first: 0 = highest)."""

ScheduleLike = Union["Schedule", str, IndexArray]
"""A ``Schedule``, its text form (``"all-17"``, ``"17 except 7@0,4"``, ...) or a
``(slots, steps)`` index array."""

class Problem:
    """A problem preset: the data, the network and each slot's candidate polynomials."""

    @staticmethod
    def load(name: str, data_dir: Optional[Union[str, os.PathLike[str]]] = None) -> "Problem":
        """A shipped preset's name or a ``.toml`` path; ``data_dir`` defaults to
        ``$CELLWISE_DATA_DIR``, else ``./data``. ``ValueError`` for an unknown or bad preset."""
        ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def cell(self) -> Literal["simple-rnn", "gru", "lstm"]: ...
    @property
    def steps(self) -> int: ...
    @property
    def slots(self) -> list[str]: ...
    @property
    def degrees(self) -> list[list[int]]:
        """Each slot's candidate degrees, highest first."""
        ...
    @property
    def shape(self) -> Tuple[int, int]:
        """``(slots, steps)``."""
        ...
    def parse(self, text: str) -> "Schedule":
        """Parses a schedule's text form; ``ValueError`` with the parser's message."""
        ...
    def schedule_from_indices(self, indices: IndexArray) -> "Schedule": ...
    def top(self) -> "Schedule": ...
    def bottom(self) -> "Schedule": ...

class Schedule:
    """The approximation of every (slot, step) of one problem's shape; ``str()`` is the
    shortest text form that parses back to it."""

    @property
    def slots(self) -> int: ...
    @property
    def steps(self) -> int: ...
    @property
    def degrees(self) -> list[list[Optional[int]]]:
        """Per slot, the degree at each step (``None`` for ``exact``)."""
        ...
    def indices(self) -> npt.NDArray[np.int64]:
        """The ``(slots, steps)`` degree indices; ``ValueError`` for exact entries."""
        ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Oracle:
    """The accuracy oracle of one split."""

    def __init__(
        self,
        problem: Union[Problem, str],
        split: Literal["val", "test"] = "val",
        weights: Optional[Union[str, os.PathLike[str]]] = None,
        *,
        precision: Literal["f32", "f64"] = "f32",
        memoise: bool = True,
    ) -> None: ...
    @property
    def split(self) -> str: ...
    @property
    def problem(self) -> Problem: ...
    @property
    def weights(self) -> str:
        """The weights' fingerprint."""
        ...
    def __len__(self) -> int: ...
    def evaluate(self, schedule: ScheduleLike) -> dict[str, Any]:
        """The dict ``cellwise eval --json`` prints for the schedule (``accuracy``,
        ``correct``, ``total``, ``interval``, ``unsafe_images``, ...)."""
        ...
    def evaluate_batch(
        self, indices: IndexArray
    ) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Accuracies, correct counts and unsafe-image counts of an ``(n, slots, steps)``
        batch; the GIL is released, Ctrl-C stops it."""
        ...
    def accepts(self, schedule: ScheduleLike, min_correct: int, batch_safe: bool = False) -> bool: ...
    def stats(self) -> dict[str, Any]: ...
    def clear_caches(self) -> None: ...

class CostModel:
    """A cost model: ``depth``, ``bootstraps``, ``latency[:PROFILE]``, or ``None`` for the
    search default."""

    def __init__(
        self,
        name: Optional[str] = None,
        problem: Optional[Union[Problem, str]] = None,
        *,
        oracle: Optional[Oracle] = None,
        weights: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def note(self) -> Optional[str]: ...
    def cost(self, schedule: ScheduleLike) -> float: ...
    def cost_batch(self, indices: IndexArray) -> npt.NDArray[np.float64]: ...
    def breakdown(self, schedule: ScheduleLike) -> dict[str, Any]: ...

def search_run(
    strategy: str,
    *,
    problem: Union[Problem, str] = "mnist-rnn32",
    weights: Optional[Union[str, os.PathLike[str]]] = None,
    budget: int = 5000,
    cost: Optional[str] = None,
    min_accuracy: float = 0.0,
    max_cost: float = float("inf"),
    batch_safe: bool = False,
    seed: int = 1,
) -> dict[str, Any]:
    """Runs a strategy as ``cellwise search`` does; the run as a dict (``front``,
    ``hypervolume``, ``reference``, ``judgements``, ``stopped``, ``records``, ...)."""
    ...

@overload
def search(
    strategy: str,
    *,
    frame: Literal[False] = False,
    problem: Union[Problem, str] = ...,
    weights: Optional[Union[str, os.PathLike[str]]] = ...,
    budget: int = ...,
    cost: Optional[str] = ...,
    min_accuracy: float = ...,
    max_cost: float = ...,
    batch_safe: bool = ...,
    seed: int = ...,
) -> list[dict[str, Any]]: ...
@overload
def search(
    strategy: str,
    *,
    frame: Literal[True],
    problem: Union[Problem, str] = ...,
    weights: Optional[Union[str, os.PathLike[str]]] = ...,
    budget: int = ...,
    cost: Optional[str] = ...,
    min_accuracy: float = ...,
    max_cost: float = ...,
    batch_safe: bool = ...,
    seed: int = ...,
) -> Any:
    """The front as a pandas ``DataFrame``."""
    ...
def hypervolume(
    points: Iterable[Sequence[float]], min_accuracy: float, reference_cost: float
) -> float:
    """The share of the box cost in [0, reference_cost] x accuracy in [min_accuracy, 1]
    that the ``(cost, accuracy)`` points dominate."""
    ...
def strategies() -> list[str]: ...
