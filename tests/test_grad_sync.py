"""Gradient synchronisation (#17): for A and M at tiny scale, 2 gloo processes × 1 micro-batch give the
loss curve and final weights of 1 process × 2 accumulated micro-batches, under every `train.grad_sync`
component; and the loaders give each token of a step to exactly one rank's micro-batch."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from conftest import RECIPES

STEPS = 3
# tiny scale, smaller still so the test stays fast: 4 layers, 4 rows of 64 tokens a micro-batch, 512 a step
SHAPES = (("model.n_layer", 4), ("train.seq_len", 64), ("train.tokens_per_step", 512), ("train.device_batch", 4))
RECIPES_AM = ("adamw_baseline", "muon_baseline")
# (ingredient added to the recipe or None for the base, its spec arguments): small buckets, so several
# collectives run per step and their order across ranks is exercised
SYNCS = {"all_reduce": (None, ()),
         "bucketed_allreduce": ("bucketed_allreduce", (("train.grad_sync.bucket_mb", 0.1),)),
         "overlap_allreduce": ("overlap_allreduce", (("train.grad_sync.bucket_mb", 0.1),)),
         "reduce_scatter": ("reduce_scatter", (("train.grad_sync.bucket_mb", 0.1),
                                               ("train.grad_sync.overlap", True)))}


def train(recipe_name: str, sync: str, dist) -> tuple[list[float], dict[str, torch.Tensor]]:
    """STEPS steps of the recipe at tiny scale (2 micro-batches of 4 rows on 1 process, 1 on each of 2)."""
    from remix.data import open_dataset
    from remix.options import RunOptions
    from remix.recipe import load_recipe
    from remix.runner import plan_run
    from remix.trainer import Trainer, make_loader
    from remix.validate import load_components
    load_components()
    recipe = load_recipe(RECIPES / f"{recipe_name}.toml")
    name, sets = SYNCS[sync]
    if name is not None:
        recipe = recipe.add(name)
    options = RunOptions(scale="tiny", steps=STEPS, device="cpu", world=dist.world, sets=(*SHAPES, *sets))
    plan = plan_run(recipe, options)
    assert plan.spec.train.grad_sync.name == (sync if name is None else plan.spec.train.grad_sync.name)
    dataset = open_dataset(plan.spec.data.source)
    trainer = Trainer(plan.spec, dataset, dist, plan.seed)
    loader = make_loader(plan.spec, dataset, dist, split="train", plan=trainer.plan)
    losses = []
    for step in range(STEPS):
        trainer.begin_step(step)
        loss = trainer.step_fn(step, next(loader))
        losses.append(dist.all_reduce_avg(loss.detach().clone()).item())
    return losses, {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def _rank(rank: int, world: int, port: int, out: str, cache: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank), REMIX_CACHE=cache, REMIX_DIST_TIMEOUT_S="120")
    torch.set_num_threads(1)
    from remix.distributed import setup
    dist = setup("cpu")
    results = {(r, s): train(r, s, dist) for r in RECIPES_AM for s in SYNCS}
    if rank == 0:
        torch.save(results, out)
    torch.distributed.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sync") / "two.pt")
    mp.spawn(_rank, args=(2, free_port(), out, os.environ["REMIX_CACHE"]), nprocs=2)
    return torch.load(out)


@pytest.fixture
def one_thread():
    """Tiny matrices on a shared 2-core machine: one thread is many times faster than two that contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("recipe", RECIPES_AM)
def test_two_processes_equal_one_with_two_micro_batches(recipe, two_processes, one_thread):
    from remix.distributed import Dist
    one_losses, one_weights = train(recipe, "all_reduce", Dist(0, 1, "cpu"))
    assert all(b < a for a, b in zip(one_losses, one_losses[1:])), one_losses   # it trains
    for sync in SYNCS:
        losses, weights = two_processes[(recipe, sync)]
        assert losses == pytest.approx(one_losses, rel=1e-5, abs=1e-6), (sync, losses, one_losses)
        for k, w in one_weights.items():
            torch.testing.assert_close(weights[k], w, rtol=1e-4, atol=1e-5, msg=lambda m: f"{sync} {k}: {m}")


@pytest.mark.parametrize("loader", ["rank_slice", "bos_aligned"])
def test_loaders_cover_each_token_once_across_ranks(loader):
    """Two ranks' micro-batches of a step are, in order, the micro-batches of one process with accumulation 2."""
    from remix.data import open_dataset
    from remix.slots import LOADERS
    from remix.validate import load_components
    load_components()
    ds = open_dataset("embedded")

    def steps(rank, world, accum, n=3):
        it = LOADERS.get(loader)(LOADERS.config(loader, {}), ds.train_files, seq_len=64, device_batch=2,
                                 accum=accum, rank=rank, world=world, bos_id=ds.bos_id, device="cpu", cycle=False)
        return [next(it) for _ in range(n)]
    one = steps(0, 1, 2)
    ranks = [steps(r, 2, 1) for r in range(2)]
    for step in range(3):
        (x0, y0), = ranks[0][step]
        (x1, y1), = ranks[1][step]
        (a0, b0), (a1, b1) = one[step]
        assert torch.equal(x0, a0) and torch.equal(x1, a1) and torch.equal(y0, b0) and torch.equal(y1, b1)
        assert not torch.equal(x0, x1)
    # a step's rows across both ranks never repeat a row of another step
    rows = {tuple(x.flatten().tolist()[:16]) for s in range(3) for r in range(2) for x in (ranks[r][s][0][0],)}
    assert len(rows) == 6
