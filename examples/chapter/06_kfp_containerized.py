"""Section 3.3, listing "コンテナ化されたコンポーネント" (containerised components), ported.

The listing runs three images with ``dsl.ContainerOp``, each a command line that reads and
writes files. suiro runs the same commands as ``shell([...])`` tasks, with this machine's
Python standing in for the images (generated data, no pandas, to start fast). What differs:

- No images, registries or Kubernetes: a list command runs the program directly (no shell, so a
  parameter in it cannot inject a command); its stdout is the task's output and every line goes
  to the attempt's log.
- ``file_outputs``: the file paths are built with expressions on parameters
  (``workdir + "/prepared.csv"``); the order comes from data (train takes prepare's output) and
  ``>>``. A ``shell`` task's outputs are its stdout, so the files here stay paths; a Python
  task declares checked, content-addressed files with ``Output[Dataset]``/``Output[Model]``
  (``05_kfp_basic_pipeline.py``, ``07_kfp_tuning_pipeline.py``).
- ``set_gpu_limit``/``add_node_selector_constraint``: ``@task(resources={"gpu": 1, "gpu_type":
  ...})`` becomes ``set_accelerator_limit``/``set_accelerator_type`` when compiled to KFP; a run
  on this machine ignores it.
- Compiling to YAML: ``suiro compile examples/chapter/06_kfp_containerized.py --target kfp -o
  containerized.yaml`` (``docs/compile.md``).

    suiro run examples/chapter/06_kfp_containerized.py --set workdir=/tmp/chapter --set n_estimators=20
"""

from __future__ import annotations

import sys

from suiro import pipeline, shell

# What the listing's three images run (its train.py, and the prepare and evaluate it implies).
PREPARE = """
import os, sys
import numpy as np
out = sys.argv[1]
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
rng = np.random.default_rng(0)
X = rng.standard_normal((400, 3))
y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(float)
np.savetxt(out, np.column_stack([X, y]), delimiter=",")
print(out)
"""

TRAIN = """
import sys, pickle
import numpy as np
from sklearn.ensemble import RandomForestClassifier
data_path, model_path, n_estimators = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = np.loadtxt(data_path, delimiter=",")
model = RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(data[:300, :-1], data[:300, -1])
with open(model_path, "wb") as f:
    pickle.dump(model, f)
print(model_path)
"""

EVALUATE = """
import sys, pickle
import numpy as np
data = np.loadtxt(sys.argv[1], delimiter=",")
with open(sys.argv[2], "rb") as f:
    model = pickle.load(f)
print(round(model.score(data[300:, :-1], data[300:, -1]), 4))  # the 100 rows train did not see
"""


@pipeline(description="A containerised ML pipeline, run as local commands")
def containerized_pipeline(workdir: str = "chapter_work", n_estimators: int = 50):
    prepared = shell([sys.executable, "-c", PREPARE, workdir + "/prepared.csv"], name="prepare_data")
    model = shell(
        [sys.executable, "-c", TRAIN, prepared, workdir + "/model.pkl", n_estimators], name="train_model"
    )
    return shell([sys.executable, "-c", EVALUATE, prepared, model], name="evaluate_model")
