"""The outputs a run holds: each dropped once its last reader took it, the pipeline's kept."""

from __future__ import annotations

from suiro import pipeline, task
from suiro.executors.base import Deferred
from suiro.graph import Use
from suiro.memo import Lazy
from suiro.values import Values


@task
def make(n: int) -> int:
    return n


@task
def add(a: int, b: int) -> int:
    return a + b


@pipeline
def shape():
    first = make(1)
    second = add(first, make(2))
    return add(second, first)


def values() -> Values:
    graph = shape.graph
    return Values(graph, {}, {k: n.upstream for k, n in graph.nodes.items()})


def test_an_output_is_dropped_once_the_last_node_reading_it_took_its_inputs():
    held = values()
    held.ended("make", 1, True)
    held.ended("make_2", 2, True)
    held.release({"make", "make_2"})  # add read both; add_2 still reads make
    assert held.resolve(Use("make")) == 1 and held.resolve(Use("make_2")) is None
    held.release({"add", "make"})
    assert held.resolve(Use("make")) is None


def test_the_pipeline_output_is_kept_and_a_failed_node_holds_none():
    held = values()
    held.ended("add_2", 5, True)  # nobody reads it, but it is the pipeline's output
    held.ended("make_2", 2, False)
    assert held.resolve(Use("add_2")) == 5 and held.resolve(Use("make_2")) is None


def test_a_portable_stored_output_goes_to_a_worker_as_a_deferred_load_else_it_is_loaded_here():
    class Portable:
        portable = True

        def __call__(self) -> int:
            return 7

    held = values()
    held.set("make", Lazy(Portable()))
    deferred = held.argument(Use("make"), True)
    assert isinstance(deferred, Deferred) and deferred.load() == 7
    assert held.argument(Use("make"), False) == 7  # loaded here, once
    held.set("make_2", Lazy(lambda: 2))  # not portable: loaded here even for a worker
    assert held.argument(Use("make_2"), True) == 2
