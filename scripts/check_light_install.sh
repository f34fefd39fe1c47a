#!/usr/bin/env bash
# The light install as a user gets it, checked end to end (CI runs this; it runs by hand too):
# a wheel built from this tree (`python -m build`: sdist, then the wheel from the sdist, so
# nothing stale in build/ gets in), installed with the base and [web,video] extras only into
# a fresh virtual environment. There `import torch` must fail, and colorize (a photo, a
# folder, hints, a reference), serve (one REST request) and video (a few frames) must work,
# run from outside the source tree so the installed wheel is what runs.
#   bash scripts/check_light_install.sh [--keep]   (--keep: leave the folder, print its path)
# Needs PyPI (pip), nothing else from the network. About a minute, most of it pip.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/colorgan-light.XXXXXX")
SERVER=""
KEEP=${1:-}
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi
    if [ "$KEEP" = "--keep" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
step() { echo "== $*"; }

step "build the wheel"
$PY -m build -o "$WORK/dist" . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/colorgan-*.whl)
$PY - "$WHEEL" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
wanted = ["colorgan/assets/default_model.onnx", "colorgan/assets/default_model.sha256",
          "colorgan/presets/default-model.yaml", "colorgan/interfaces/web/static/index.html",
          "colorgan/interfaces/web/static/app.js"]
missing = [n for n in wanted if n not in names]
assert not missing, f"the wheel lacks {missing}"
print(f"{sys.argv[1].rsplit('/', 1)[-1]}: ONNX model, presets and web page inside")
EOF

step "a fresh venv with the wheel's base + [web,video]"
$PY -m venv "$WORK/venv"
BIN="$WORK/venv/bin"
"$BIN/python" -m pip install "$WHEEL[web,video]" >"$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log"; exit 1; }
if "$BIN/python" -c "import torch" 2>/dev/null; then echo "torch is installed: FAIL"; exit 1; fi
echo "import torch fails there, as it should"
cd "$WORK"  # away from the source tree: `colorgan` must come from the wheel
"$BIN/python" -c "import colorgan, sys; assert '$ROOT' not in colorgan.__file__, colorgan.__file__"

step "colorize: a photo, a folder, hints, a reference"
mkdir -p photos
cp "$ROOT/examples/castle_clinton_1961.jpg" photo.jpg
cp photo.jpg photos/a.jpg && cp photo.jpg photos/b.jpg
"$BIN/colorgan" colorize photo.jpg -o out
"$BIN/colorgan" colorize photos -o out/folder
"$BIN/colorgan" colorize photo.jpg -o out/hinted --hint 200,150,#3a6ea5 --hint 40,300,#5a7d3a,5
"$BIN/colorgan" colorize photo.jpg -o out/referenced --reference out/photo_color.jpg
for f in out/photo_color.jpg out/folder/a_color.jpg out/folder/b_color.jpg \
    out/hinted/photo_color.jpg out/referenced/photo_color.jpg; do
    [ -s "$f" ] || { echo "missing: $f"; exit 1; }
done

step "serve: one REST request"
PORT=$("$BIN/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$BIN/colorgan" serve --port "$PORT" >serve.log 2>&1 &
SERVER=$!
"$BIN/python" - "$PORT" <<'EOF'
import sys, time, urllib.request, uuid
url = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(600):  # the model loads before the socket answers
    try:
        urllib.request.urlopen(url + "/api/health", timeout=1).read()
        break
    except OSError:
        time.sleep(0.1)
boundary = uuid.uuid4().hex
photo = open("photo.jpg", "rb").read()
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n"
        f"Content-Type: image/jpeg\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
request = urllib.request.Request(url + "/api/colorize?format=png", body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
with urllib.request.urlopen(request, timeout=120) as answer:
    data = answer.read()
assert answer.status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n", (answer.status, data[:64])
print(f"POST /api/colorize: 200, a {len(data):,}-byte PNG")
EOF
kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
SERVER=""

step "video: a few frames"
"$BIN/python" - <<'EOF'
import av, numpy as np
from PIL import Image
gray = np.asarray(Image.open("photo.jpg").convert("RGB").resize((160, 120)))
with av.open("clip.mp4", "w") as out:
    stream = out.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
    for i in range(6):
        frame = np.roll(gray, 2 * i, axis=1)  # a slow pan
        out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    out.mux(stream.encode(None))
EOF
"$BIN/colorgan" video clip.mp4 -o clip_color.mp4 --report
[ -s clip_color.mp4 ] && [ -s clip_color.report.json ] || { echo "video: no output"; exit 1; }
echo "light install: all checks passed"
