"""A mapped node's bookkeeping: items counted down, values kept in item order, its verdict."""

from __future__ import annotations

from suiro.fanout import MapState, map_verdict
from suiro.memo import Gather, Lazy
from suiro.states import TaskState

S, C, F, P = TaskState.SUCCESS, TaskState.CACHED, TaskState.FAILED, TaskState.PENDING


def test_items_end_in_any_order_and_the_last_one_says_so():
    fan = MapState.of_size(3)
    assert not fan.item_ended(2, "c", artifact="a2")
    assert not fan.item_dropped()  # item 1 never starts
    assert fan.item_ended(0, "a")
    assert (fan.values, fan.artifacts) == (["a", None, "c"], [None, None, "a2"])


def test_a_list_with_a_lazy_item_is_gathered_lazily_in_item_order():
    fan = MapState.of_size(2)
    fan.item_ended(0, 1)
    fan.item_ended(1, Lazy(lambda: 2))
    gathered = fan.gathered()
    assert isinstance(gathered, Lazy) and isinstance(gathered.load, Gather)
    assert gathered.load() == [1, 2]
    assert MapState.of_size(0).gathered() == []


def test_the_node_succeeds_only_if_every_item_did_and_is_cached_only_if_all_were():
    assert map_verdict([S, C]) is S
    assert map_verdict([C, C]) is C
    assert map_verdict([S, F]) is F
    assert map_verdict([S, P]) is F  # an item that never ran (fail-fast, cancel)
    assert map_verdict([]) is S  # an empty map
