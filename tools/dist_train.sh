#!/usr/bin/env bash
# Distributed training with torch.distributed (one process per GPU, or per CPU slot on CPU with gloo).
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Env: NNODES, NODE_RANK, PORT, MASTER_ADDR as for torch.distributed.run; PYTHON (default: python).
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
PYTHONPATH="$(dirname "$0")/..:${PYTHONPATH:-}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
