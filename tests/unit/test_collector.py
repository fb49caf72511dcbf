"""suiro.collector: while a pipeline is traced or run, the collector walks no old objects."""

from __future__ import annotations

import gc

import suiro
from suiro import pipeline, task


def test_held_freezes_what_exists_raises_the_thresholds_and_restores_both_at_the_last_release():
    from suiro import collector

    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with collector.held():
        young, middle, old = gc.get_threshold()
        assert young == before[0], "young objects are collected as often as before"
        assert middle >= 100 and old >= 1000
        assert gc.get_freeze_count() > 0, "the objects alive when it began are never walked"
        with collector.held():  # nested: a run inside a task, or a second run in a thread
            pass
        assert gc.get_threshold()[2] >= 1000, "the outer holder still holds"
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


captured: list[list[int]] = []


@task
def thresholds() -> list[int]:
    return [*gc.get_threshold(), gc.get_freeze_count()]


@pipeline
def seen():
    return thresholds()


@pipeline
def traced():
    captured.append([*gc.get_threshold(), gc.get_freeze_count()])
    return thresholds()


def test_a_run_and_its_tracing_hold_the_collector_and_give_it_back(tmp_path):
    before = gc.get_threshold()
    result = suiro.run(seen, executor="sequential", home=tmp_path)
    *during, frozen = result.output
    assert during[2] >= 1000 and frozen > 0, "a task of a recorded run sees no full collections due"
    assert captured and captured[0][2] >= 1000 and captured[0][3] > 0, "tracing held it too"
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_process_forked_while_held_collects_as_usual_and_can_hold_again():
    import os

    from suiro import collector

    before = gc.get_threshold()
    with collector.held():
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # a process executor's worker: its own garbage is collected as usual
            seen = gc.get_threshold()
            with collector.held():  # and a run in it holds and gives back (no lock left taken)
                pass
            os.write(write, repr((seen, gc.get_threshold())).encode())
            os._exit(0)
        os.close(write)
        reply = os.read(read, 1000).decode()
        os.waitpid(pid, 0)
    assert reply == repr((before, before))
