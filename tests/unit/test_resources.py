"""``@task(resources=...)``: known keys only, values checked at decoration, memory read as bytes."""

from __future__ import annotations

import pytest

from suiro import task
from suiro.errors import DefinitionError
from suiro.resources import KNOWN_RESOURCES, memory_bytes


def body() -> int:
    return 1


def test_known_resources_are_accepted_and_kept_as_given():
    given = {"gpu": 1, "memory": "4GB", "cpu": "500m", "gpu_type": "nvidia-tesla-t4"}
    t = task(resources=given)(body)
    assert dict(t.options.resources) == given
    assert KNOWN_RESOURCES == ("cpu", "gpu", "gpu_type", "memory")


def test_an_unknown_resource_key_is_an_error_at_decoration_listing_the_known_ones():
    with pytest.raises(
        DefinitionError,
        match=r"@task body at .*test_resources.py:\d+: unknown resource 'gpus' \(did you mean \"gpu\"\?\); "
        r"known resources are cpu, gpu, gpu_type, memory\.",
    ):
        task(resources={"gpus": 1})(body)


def test_with_options_checks_resources_too():
    t = task(body)
    with pytest.raises(
        DefinitionError, match=r"unknown resource 'disk'; known resources are cpu, gpu, gpu_type, memory"
    ):
        t.with_options(resources={"disk": "1GB"})


@pytest.mark.parametrize(
    ("resources", "problem"),
    [
        ({"gpu": -1}, r"resource gpu must be a number > 0, got -1"),
        ({"cpu": "two"}, r"resource cpu must be a number > 0 or a count such as '2' or '500m', got 'two'"),
        (
            {"memory": "lots"},
            r"resource memory must be bytes or a size such as '4GB' or '512MiB', got 'lots'",
        ),
        ({"gpu_type": 4}, r"resource gpu_type must be an accelerator's name as text, got 4"),
        ("gpu", r"resources must be a dict such as \{'gpu': 1, 'memory': '4GB'\}, got 'gpu'"),
    ],
)
def test_bad_resource_values_are_errors_at_decoration(resources, problem):
    with pytest.raises(DefinitionError, match=problem):
        task(resources=resources)(body)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4GB", 4_000_000_000),
        ("4 gb", 4_000_000_000),
        ("512MiB", 512 * 2**20),
        ("1.5G", 1_500_000_000),
        ("2Gi", 2 * 2**30),
        (1024, 1024),
        ("100", 100),
        ("3kB", 3000),
    ],
)
def test_memory_is_read_as_bytes(text, size):
    assert memory_bytes(text) == size


def test_a_gpu_type_is_a_compile_targets_label_not_an_amount_a_dask_worker_offers():
    from suiro.executors.dask.cluster import dask_resources

    assert dask_resources({"gpu": 1, "gpu_type": "nvidia-tesla-t4"}) == {"GPU": 1.0}
    assert dask_resources({"gpu_type": "nvidia-tesla-t4"}) is None
    assert dask_resources({"cpu": "500m", "memory": "1G"}) == {"CPU": 0.5, "MEMORY": 1e9}


def test_a_task_no_dask_worker_can_run_is_named_with_its_resources_as_written():
    from suiro.executors.dask.cluster import dask_resources, unmet

    asked = {"memory": "4GB", "gpu": 1, "gpu_type": "nvidia-tesla-t4"}
    offers = [{"CPU": 1, "MEMORY": 2_147_483_648}, {"CPU": 1, "MEMORY": 1e9}]
    why = unmet(dask_resources(asked), offers, asked=asked)
    assert why == (
        "it needs gpu 1, memory 4GB and no worker of the cluster's 2 offers that "
        "(at most gpu 0, memory 2.1 GB)"
    )
    assert unmet(dask_resources({"memory": "1GB"}), offers, asked={"memory": "1GB"}) is None
    bare = unmet({"MEMORY": 4e9, "CPU": 0.5}, offers)  # without the task's own words: readable still
    assert bare == (
        "it needs cpu 0.5, memory 4 GB and no worker of the cluster's 2 offers that "
        "(at most cpu 1, memory 2.1 GB)"
    )
