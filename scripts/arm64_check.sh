#!/usr/bin/env bash
# The wheel on Raspberry Pi OS 64-bit's base (Debian bookworm arm64) under qemu user-mode emulation, compared with x86.
#
#   scripts/arm64_check.sh            # or: make arm64-check        (root, Linux x86-64, network to Debian + PyPI)
#   scripts/arm64_check.sh --clean    # unmount and delete the cached root file system
#
# 1. qemu-user-static, binfmt-support, debootstrap from Debian; binfmt_misc mounted, qemu-aarch64 enabled.
# 2. A bookworm arm64 root (debootstrap minbase + python3-venv), cached in $EDGE_SDK_ARM64_ROOT (.cache/arm64-root).
# 3. The wheel built from this checkout (scripts/build_dist.py), installed with [tflite,onnx,openvino] from the
#    package index into a fresh venv inside the root.
# 4. scripts/arm64_detect.py there and on x86 (same images, same plan); scripts/arm64_compare.py writes
#    docs/ARM64_CHECK.md and fails unless the faces agree.
# Three fixes make the emulated root work (../shared/notes/ARM64.md): the host's CA bundle inside the root (TLS goes
# through a proxy whose CA only the host trusts), an Arm /proc/cpuinfo bind-mounted over the host's (onnxruntime and
# LiteRT crash on an AMD cpuinfo), and QEMU_CPU=cortex-a76 (qemu's default "max" CPU has SME and gives wrong int8).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-.venv/bin/python}
ROOT=$(realpath -m "${EDGE_SDK_ARM64_ROOT:-.cache/arm64-root}")
DATA=$(realpath -m "${EDGE_SDK_DATA:-../shared/data}")
DOC=${ARM64_CHECK_DOC:-docs/ARM64_CHECK.md}
RAW=out/arm64-check   # the raw detections of both sides and the arm64 package list, kept for a closer look
SUITE=bookworm
export QEMU_CPU=cortex-a76
# A few WIDER val images with 2-7 faces each, from four events, besides the sample.
WIDER_IMAGES=(0--Parade/0_Parade_Parade_0_194.jpg 1--Handshaking/1_Handshaking_Handshaking_1_158.jpg
              23--Shoppers/23_Shoppers_Shoppers_23_500.jpg 38--Tennis/38_Tennis_Tennis_38_683.jpg)
# OpenVINO int8 takes ~27 s per image under emulation: one image for OpenVINO.
PLAN=(tflite:fp32,int8:all onnxruntime:fp32,int8:all openvino:fp32,int8:1)
CHECK_DIR=/tmp/edge-sdk-check   # inside the root
VENV=/opt/edge-sdk-venv         # inside the root

START=$(date +%s)
WORK=$(mktemp -d /tmp/arm64-check.XXXXXX)
LOG=$WORK/check.log
say() { echo "[$(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }
die() { echo "arm64 check: $*" >&2; exit 1; }

mounts_under_root() { findmnt -rn -o TARGET | awk -v r="$ROOT/" 'index($0 "/", r) == 1' | sort -r; }
unmount_root() {
  local target
  for target in $(mounts_under_root); do umount "$target" 2>/dev/null || umount -l "$target"; done
  [ -z "$(mounts_under_root)" ] || die "still mounted under $ROOT: $(mounts_under_root | tr '\n' ' ')"
}
remove_root() {  # never rm -rf a root with /dev or /sys bind-mounted into it
  unmount_root
  rm -rf --one-file-system "$ROOT"
}

[ "$(id -u)" = 0 ] || die "needs root (apt-get, debootstrap, mount, chroot)"
[ "$(uname -m)" = x86_64 ] || die "runs on an x86-64 host (it compares arm64 with x86)"
if [ "${1:-}" = --clean ]; then remove_root; echo "removed $ROOT"; exit 0; fi
[ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null || die "no Python at $PYTHON (make install, or set PYTHON)"
trap 'unmount_root; rm -rf "$WORK"' EXIT
mkdir -p "$RAW"

say "checkout $(git describe --always --dirty 2>/dev/null || echo '(not a git checkout)'), $(date -u +%FT%TZ)"
say "tools: qemu-user-static, binfmt-support, debootstrap"
if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null \
   || ! command -v update-binfmts >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support debootstrap >/dev/null
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 2>/dev/null || true
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt_misc: qemu-aarch64 not enabled"
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt_misc: qemu-aarch64 lacks the F flag"
say "$(qemu-aarch64-static --version | head -1), QEMU_CPU=$QEMU_CPU"

# The Debian mirror the host's apt uses (deb822 or one-line sources), unless EDGE_SDK_DEBIAN_MIRROR says otherwise.
host_mirror() {
  { { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'; } \
    | grep -v security | head -1; } 2>/dev/null || true
}
if [ ! -f "$ROOT/.edge-sdk-root-complete" ]; then
  MIRROR=${EDGE_SDK_DEBIAN_MIRROR:-$(host_mirror)}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  say "debootstrap $SUITE arm64 from $MIRROR into $ROOT (cached for later runs)"
  [ -e "$ROOT" ] && remove_root
  mkdir -p "$(dirname "$ROOT")"
  debootstrap --arch=arm64 --variant=minbase --include=python3-venv,ca-certificates "$SUITE" "$ROOT" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; die "debootstrap failed"; }
  date -u +%FT%TZ >"$ROOT/.edge-sdk-root-complete"
else
  say "reusing the root in $ROOT (built $(cat "$ROOT/.edge-sdk-root-complete"))"
fi

say "root set-up: host CA bundle + resolv.conf, proc/sys/dev, an Arm /proc/cpuinfo"
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
# /proc/cpuinfo of a Raspberry Pi 5 (4 x Cortex-A76): what onnxruntime's and LiteRT's CPU probes expect on Arm.
for cpu in 0 1 2 3; do
  printf 'processor\t: %s\nBogoMIPS\t: 108.00\n' "$cpu"
  printf 'Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp '
  printf 'asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\n'
  printf 'CPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n'
done >"$WORK/cpuinfo"
printf 'Revision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n' >>"$WORK/cpuinfo"
mount -t proc proc "$ROOT/proc"
mount --bind /sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind "$WORK/cpuinfo" "$ROOT/proc/cpuinfo"

in_root() {  # a clean environment inside the root; proxies passed through where the host has them
  local pass=()
  for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!var:-}" ] && pass+=("$var=${!var}")
  done
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 QEMU_CPU="$QEMU_CPU" PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "${pass[@]}" "$@"
}
[ "$(in_root uname -m)" = aarch64 ] || die "the root does not run as aarch64"

say "wheel: scripts/build_dist.py (sdist, then the wheel from it)"
"$PYTHON" scripts/build_dist.py --out "$WORK/dist" | tee -a "$LOG"
WHEEL=$(ls "$WORK"/dist/*.whl)

rm -rf --one-file-system "$ROOT$CHECK_DIR"
mkdir -p "$ROOT$CHECK_DIR/images"
cp "$WHEEL" scripts/arm64_detect.py "$ROOT$CHECK_DIR/"
IMAGES=("$REPO/samples/astronaut.png")
if [ -d "$DATA/widerface/WIDER_val/images" ]; then
  for image in "${WIDER_IMAGES[@]}"; do IMAGES+=("$DATA/widerface/WIDER_val/images/$image"); done
elif [ -n "${CI:-}" ]; then
  die "CI must have the shared face data at $DATA"
else
  say "no WIDER images at $DATA: the sample only"
fi
cp "${IMAGES[@]}" "$ROOT$CHECK_DIR/images/"
ROOT_IMAGES=()
for image in "${IMAGES[@]}"; do ROOT_IMAGES+=("$CHECK_DIR/images/$(basename "$image")"); done

say "arm64: fresh venv, pip install $(basename "$WHEEL")[tflite,onnx,openvino] from the package index"
rm -rf --one-file-system "$ROOT$VENV"
in_root python3 -m venv "$VENV"
in_root "$VENV/bin/pip" install -q "$CHECK_DIR/$(basename "$WHEEL")[tflite,onnx,openvino]" 2>&1 | tee -a "$LOG"
in_root "$VENV/bin/pip" check | tee -a "$LOG"
in_root "$VENV/bin/pip" freeze --all >"$RAW/packages.txt"
grep -qi '^torch' "$RAW/packages.txt" && die "torch was installed on arm64"

say "arm64: detect (${PLAN[*]}) on ${#IMAGES[@]} image(s)"
in_root /bin/sh -c "cd $CHECK_DIR && $VENV/bin/python arm64_detect.py --images ${ROOT_IMAGES[*]} --plan ${PLAN[*]} \
  --out $CHECK_DIR/arm64.json" 2>&1 | grep --line-buffered -v 'XNNPACK delegate\|MIDR_EL1' | tee -a "$LOG"
cp "$ROOT$CHECK_DIR/arm64.json" "$RAW/arm64.json"

say "x86: the same detection with this checkout ($PYTHON)"
PYTHONPATH=$REPO "$PYTHON" scripts/arm64_detect.py --images "${IMAGES[@]}" --plan "${PLAN[@]}" --out "$RAW/x86.json" \
  >"$WORK/x86.out" 2>&1 || { cat "$WORK/x86.out"; die "the x86 detection failed"; }
say "compare → $DOC (the check took $(( ($(date +%s) - START) / 60 )) min $(( ($(date +%s) - START) % 60 )) s)"
sed -i "s|$REPO/||g; s|$WORK|\$WORK|g; s|$DATA/|\$EDGE_SDK_DATA/|g" "$LOG"
cp "$LOG" "$RAW/check.log"
"$PYTHON" scripts/arm64_compare.py --x86 "$RAW/x86.json" --arm64 "$RAW/arm64.json" \
  --packages "$RAW/packages.txt" --log "$RAW/check.log" --doc "$DOC"
