# Everything of the small METR configs except the data: ./models/metr_r18.py, the 12-epoch AdamW schedule, our
# runtime (with the plugin imports). A leaf adds a METR data base (./datasets/metr_*.py) and sets
# `model = dict(label_spaces={{_base_.metr_class_embeddings}}, num_categories=K)`.
_base_ = ['./models/metr_r18.py', './schedules/adamw_12e.py', './default_runtime.py']
