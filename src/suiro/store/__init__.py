"""Everything suiro keeps: the metadata database, the artifact store, the run recorder.

Never imports the graph or the runner: it stores what their events say.
"""
