#!/usr/bin/env bash
# The GPU checks of docs/minerf-model.md ("Another machine, 512 px, and the GPU path") in one go.
#
#   bash benchmarks/gpu_suite.sh prepare CLIPS       # on a machine with the toolkit installed:
#                                                    # the shipped run's 19 training clips, 128 px
#   bash benchmarks/gpu_suite.sh run CLIPS OUT       # on the GPU machine: JSON per check in OUT
#
# `run` needs torch, numpy, opencv, safetensors, click, tqdm and jaxtyping, not av, librosa,
# soundfile, mediapipe or ctranslate2 (no video decoding, face tracking or audio): the clips are
# prepared beforehand and travel with it. The shipped runs record where their clips were
# prepared (/work/data/clips128, /tmp/grid), so `run` links those paths to CLIPS when they are
# free. Each check has its own time limit; one that fails or runs out leaves its .err file and
# the next one still runs. ITERS (default 1500) sets the length of the CUDA training run.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
NEW=checkpoints/shipped/minerf-talk17-fast
OLD=checkpoints/shipped/minerf-grid8-fast
DATA=${MINERF_SHARED_DATA:-../shared/data}

clip_names() {
  python -c "import json, sys; from minerf.run import latest_checkpoint; print('\n'.join(c['name'] for c in json.load(open(latest_checkpoint(sys.argv[1]) / 'checkpoint.json'))['clips']))" "$NEW"
}

prepare() {
  local clips=$1 name src
  mkdir -p "$clips"
  for name in $(clip_names); do
    [ -d "$clips/$name" ] && continue
    src=$(ls "$DATA"/videos/"$name".* "$DATA"/talking/"$name".* 2>/dev/null | head -1)
    if [ -z "$src" ]; then echo "no source video for $name under $DATA/videos or $DATA/talking" >&2; return 1; fi
    python cli.py prepare "$src" -o "$clips/$name" --resolution 128 || return 1
  done
  echo "prepared $(clip_names | wc -l) clips in $clips"
}

check() {  # check NAME SECONDS COMMAND...: OUT/NAME.json (stdout), OUT/NAME.err, a status line
  local name=$1 limit=$2 start=$SECONDS
  shift 2
  timeout "$limit" "$@" > "$OUT/$name.json" 2> "$OUT/$name.err"
  echo "$name rc=$? $((SECONDS - start)) s"
}

run() {
  local clips
  clips=$(realpath "$1")
  OUT=$(realpath -m "$2")
  mkdir -p "$OUT"
  for link in /work/data/clips128 /tmp/grid; do
    if [ ! -e "$link" ]; then mkdir -p "$(dirname "$link")" && ln -s "$clips" "$link"; fi
  done
  check cuda 60 python -c "import json, torch; print(json.dumps({'torch': torch.__version__, 'cuda': torch.cuda.is_available(), 'device': torch.cuda.get_device_name() if torch.cuda.is_available() else None}))"
  check render_128 150 python benchmarks/render_speed.py --run "new=$NEW" --run "old=$OLD" --clip grid_swiz3n --frames 5 --chunk 65536
  check render_512 150 python benchmarks/render_speed.py --run "new=$NEW" --clip grid_swiz3n --frames 5 --scale 4 --chunk 65536
  check parity 150 python benchmarks/device_parity.py --run "$NEW" --clip grid_swiz3n
  check train_speed 200 python benchmarks/train_speed.py --sizes 128 512 --compile
  local grid
  grid=$(ls -d "$clips"/grid_*)
  # shellcheck disable=SC2086
  check train_fast 300 python cli.py train $grid -o "$OUT/train_fast" --preset fast --iters "${ITERS:-1500}" --json
}

case "${1:-}" in
  prepare) prepare "${2:?CLIPS folder}" ;;
  run) run "${2:?CLIPS folder}" "${3:?OUT folder}" ;;
  *) sed -n 2,13p "$0"; exit 2 ;;
esac
