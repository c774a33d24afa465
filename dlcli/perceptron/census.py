"""How many Boolean functions of n inputs one perceptron represents (OEIS A000609), counted exactly.

Every threshold function of n inputs has an integer realisation with |w_i| ≤ (n+1)^((n+1)/2) / 2^n
(Muroga, Toda & Takasu 1961). So enumerating the integer weight vectors in that box and, for each,
every threshold cut of its 2^n weighted sums yields every threshold function; collecting the
distinct truth tables counts them exactly.

- `direct`: the whole box [−W, W]^n (also gives the smallest realisation of each function).
- `orbits`: only sorted non-negative weights (negating an input flips a weight's sign, permuting
  inputs permutes weights). Their tables under all n! input permutations are exactly the positive
  threshold functions g (OEIS A000617). Every threshold function is g with some inputs negated, and
  g fixes which: negating an input g ignores changes nothing, negating one it depends on gives a new
  function. So the count is Σ_g 2^(number of inputs g depends on). This makes n = 5 and 6 fast.
- `lp`: the exact LP verdict on every one of the 2^(2^n) truth tables (slow; a cross-check for n ≤ 3).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlcli.errors import InputError
from dlcli.perceptron.boolean import BooleanFunction, input_rows

Progress = Callable[[int, int], None]
METHODS = ("auto", "direct", "orbits", "lp")
MAX_CENSUS_INPUTS = 6
MAX_LIST_INPUTS = 4
OEIS_A000609 = {0: 2, 1: 4, 2: 14, 3: 104, 4: 1882, 5: 94572, 6: 15028134}


@dataclass(frozen=True)
class Realisation:
    """One threshold function and integer weights/bias with step(w·x + b) reproducing it."""

    table: str
    weights: tuple[int, ...]
    bias: int


@dataclass(frozen=True)
class Census:
    inputs: int
    functions: int
    separable: int
    method: str
    weight_bound: int
    realisations: tuple[Realisation, ...] = ()

    def as_dict(self) -> dict:
        """The JSON contract: inputs, functions, separable, and the list of realisations when one was made."""
        out: dict = {"inputs": self.inputs, "functions": self.functions, "separable": self.separable}
        if self.realisations:
            out["list"] = [{"table": r.table, "weights": list(r.weights), "bias": r.bias} for r in self.realisations]
        return out


def muroga_bound(n: int) -> int:
    """The largest integer W with W ≤ (n+1)^((n+1)/2) / 2^n, computed exactly."""
    target = (n + 1) ** (n + 1)  # compare (W·2^n)^2 with (n+1)^(n+1)
    w = math.isqrt(target) // 2**n
    while ((w + 1) * 2**n) ** 2 <= target:
        w += 1
    return w


def census(n: int, method: str = "auto", listing: bool = False, progress: Progress | None = None) -> Census:
    """Count (and optionally list with realisations) the threshold functions of n inputs; `progress(done, total)`
    follows the direct enumeration, which is refused up front when its memory estimate does not fit."""
    if not 1 <= n <= MAX_CENSUS_INPUTS:
        raise InputError(f"--inputs must be between 1 and {MAX_CENSUS_INPUTS} for a census (got {n})")
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)} (got '{method}')")
    if listing and n > MAX_LIST_INPUTS:
        raise InputError(f"--list is available up to {MAX_LIST_INPUTS} inputs ({OEIS_A000609[4]} functions)")
    if method == "auto":
        method = "direct" if n <= 4 or listing else "orbits"
    if method == "lp" and n > 3:
        raise InputError("--method lp tests all 2^(2^n) tables one by one; it is offered up to 3 inputs")
    if listing and method != "direct":
        raise InputError("--list needs --method direct (it reports each function's smallest weights)")
    bound = muroga_bound(n)
    realisations: tuple[Realisation, ...] = ()
    if method == "direct":
        from dlcli.vanish.memory import check_memory

        check_memory(None, need=direct_bytes(n, bound),
                     advice=f"--method direct enumerates {(2 * bound + 1) ** n:,} weight vectors for {n} inputs; "
                     "use --method orbits (the default for 5 and 6 inputs)")
        masks, weights, biases = _direct(n, bound, progress)
        if listing:
            realisations = tuple(
                Realisation(format(int(m), f"0{2**n}b"), tuple(int(v) for v in w), int(b))
                for m, w, b in zip(masks, weights, biases, strict=True)
            )
        count = len(masks)
    elif method == "orbits":
        count = _orbits(n, bound)
    else:
        count = _by_lp(n)
    return Census(n, 2 ** 2**n, count, method, bound, realisations)


def _cuts(weights: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each weight vector (rows of `weights`), every function step(w·x + b): the tables as
    integers (row i of the truth table is bit 2^n−1−i) and the bias b = −(cut value) that gives it."""
    sums = weights @ input_rows(n).T  # (V, R): the weighted sum of every input row
    powers = (1 << np.arange(2**n - 1, -1, -1, dtype=np.uint64)).astype(np.uint64)
    masks = np.empty((len(weights), 2**n + 1), dtype=np.uint64)
    biases = np.empty((len(weights), 2**n + 1), dtype=np.int64)
    for k in range(2**n):  # cut at the k-th row's own sum: rows with sum ≥ it output 1
        masks[:, k] = (sums >= sums[:, k:k + 1]).astype(np.uint64) @ powers
        biases[:, k] = -sums[:, k]
    masks[:, -1] = 0  # the constant-false function: threshold above every sum
    biases[:, -1] = -(sums.max(axis=1) + 1)
    return masks, biases


BLOCK_VECTORS = 20_000  # weight vectors per block of the direct enumeration (bounds its working memory)


def direct_bytes(n: int, bound: int | None = None) -> int:
    """Peak bytes of the direct enumeration: the sorted weight box, and one block's sums, cuts and tables."""
    bound = muroga_bound(n) if bound is None else bound
    vectors = (2 * bound + 1) ** n
    rows = 2**n
    box = vectors * n * 8 * 3                                   # the grid, its L1 norms and the sort order
    block = min(vectors, BLOCK_VECTORS) * (rows * 8 * 3 + (rows + 1) * 8 * 4)  # sums, comparisons, masks, biases
    found = min(vectors * (rows + 1), OEIS_A000609[n]) * (8 + n * 8 + 8) * 2  # distinct tables kept
    return box + block + found


def _direct(n: int, bound: int, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct tables over the box [−W, W]^n, each with its first (smallest-L1) realisation, block by block."""
    axes = np.arange(-bound, bound + 1, dtype=np.int64)
    grid = np.stack(np.meshgrid(*([axes] * n), indexing="ij"), axis=-1).reshape(-1, n)
    grid = grid[np.lexsort((*grid.T[::-1], np.abs(grid).sum(axis=1)))]
    masks_seen = np.empty(0, dtype=np.uint64)
    weights_seen, biases_seen = [np.empty((0, n), dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for start in range(0, len(grid), BLOCK_VECTORS):
        block = grid[start:start + BLOCK_VECTORS]
        masks, biases = _cuts(block, n)
        unique, first = np.unique(masks.ravel(), return_index=True)  # first = earliest (smallest L1) in the block
        new = ~np.isin(unique, masks_seen, assume_unique=True)
        masks_seen = np.concatenate([masks_seen, unique[new]])
        weights_seen.append(block[first[new] // (2**n + 1)])
        biases_seen.append(biases.ravel()[first[new]])
        if progress is not None:
            progress(min(start + BLOCK_VECTORS, len(grid)), len(grid))
    order = np.argsort(masks_seen, kind="stable")
    return masks_seen[order], np.concatenate(weights_seen)[order], np.concatenate(biases_seen)[order]


def _orbits(n: int, bound: int) -> int:
    """Count via positive functions: each positive threshold function g yields 2^(inputs g depends on)
    threshold functions by negating inputs."""
    positive = positive_threshold_functions(n, bound)
    size = 2**n
    shifts = np.arange(size - 1, -1, -1, dtype=np.uint64)
    cube = ((positive[:, None] >> shifts[None, :]) & np.uint64(1)).astype(bool).reshape((-1,) + (2,) * n)
    relevant = np.zeros(len(positive), dtype=np.int64)
    for axis in range(1, n + 1):  # g depends on input `axis` iff its two half-cubes differ
        differ = np.take(cube, 0, axis=axis) != np.take(cube, 1, axis=axis)
        relevant += differ.reshape(len(positive), -1).any(axis=1)
    return int((np.int64(1) << relevant).sum())


def positive_threshold_functions(n: int, bound: int | None = None) -> np.ndarray:
    """Truth tables (as integers) of every threshold function with non-negative weights (OEIS A000617):
    the tables of sorted non-negative weight vectors within the bound, under all input permutations."""
    bound = muroga_bound(n) if bound is None else bound
    canonical = np.array(list(itertools.combinations_with_replacement(range(bound + 1), n)), dtype=np.int64)
    masks, _ = _cuts(canonical, n)
    seeds = np.unique(masks.ravel())
    size = 2**n
    shifts = np.arange(size - 1, -1, -1, dtype=np.uint64)
    powers = np.left_shift(np.uint64(1), shifts)
    bits = ((seeds[:, None] >> shifts[None, :]) & np.uint64(1)).astype(bool)
    perms = _permutation_maps(n)  # (n!, R): row r of the permuted table reads the original at perms[p, r]
    found = []
    per_batch = max(1, 4_000_000 // (len(perms) * size))
    for start in range(0, len(bits), per_batch):
        block = bits[start:start + per_batch][:, perms]  # (B, n!, R)
        found.append(np.unique(block.reshape(-1, size).astype(np.uint64) @ powers))
    return np.unique(np.concatenate(found))


def _permutation_maps(n: int) -> np.ndarray:
    """Row index maps of the n! permutations of the inputs."""
    rows = input_rows(n)
    place = 1 << np.arange(n - 1, -1, -1)
    return np.array([rows[:, list(perm)] @ place for perm in itertools.permutations(range(n))], dtype=np.int64)


def _by_lp(n: int) -> int:
    from dlcli.perceptron.learning import decide

    return sum(decide(BooleanFunction("", n, format(i, f"0{2**n}b"))).separable for i in range(2 ** 2**n))
