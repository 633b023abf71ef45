#!/usr/bin/env bash
# Collect clean colour photographs from Debian's wallpaper packages into DEST, without installing them:
# `apt-get download` + `dpkg -x` into a temporary folder, then copy the photographs out.
#
#   benchmarks/fetch_backgrounds.sh DEST        then   jrgr data synth --backgrounds DEST --out ...
#
# Only photographs are kept: the packages also hold vector renders, gradients, logos and SVGs, which are
# poor rain backgrounds (no depth, no texture) — they are left out by an explicit list, which is more
# reliable than an image statistic (several renders have photo-like colour counts). Greyscale photos
# (ColdRipple, Grey) are left out because the rain models and metrics expect colour scenes. Of wallpapers
# shipped at several resolutions only the largest is kept, so one scene is one file (the background
# split is by file). Needs apt-get and dpkg (Debian/Ubuntu), a reachable package mirror, no root for
# dpkg -x; `apt-get update` is run first when the package lists are missing.
set -euo pipefail

if [[ $# -ne 1 || "$1" == -h || "$1" == --help ]]; then
    echo "usage: $0 DEST   (collect Debian wallpaper photographs into DEST)" >&2
    exit 2
fi
DEST=$1
PACKAGES=(mate-backgrounds plasma-workspace-wallpapers)
# Photographs of plasma-workspace-wallpapers 5.27 (Debian 12); the rest of that package is rendered art.
PLASMA_PHOTOS=(Autumn BytheWater ColorfulCups DarkestHour EveningGlow FallenLeaf Kite OneStandsOut Path summer_1am)

for tool in apt-get dpkg; do
    command -v "$tool" >/dev/null || { echo "$0: needs '$tool' (Debian/Ubuntu)" >&2; exit 1; }
done

start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! apt-cache show "${PACKAGES[0]}" >/dev/null 2>&1; then
    echo "package lists do not know ${PACKAGES[0]}; running apt-get update" >&2
    apt-get update -qq
fi

available=()
for package in "${PACKAGES[@]}"; do
    if apt-cache show "$package" >/dev/null 2>&1; then
        available+=("$package")
    else
        echo "skipping $package: not in this system's package lists" >&2
    fi
done
[[ ${#available[@]} -gt 0 ]] || { echo "$0: none of ${PACKAGES[*]} is available" >&2; exit 1; }

# apt-get download writes to the current folder; as root it warns that _apt cannot write there (harmless).
(cd "$work" && apt-get download -q "${available[@]}" 2>&1 | grep -v "unsandboxed as root" >&2 || true)
for deb in "$work"/*.deb; do
    [[ -e "$deb" ]] || { echo "$0: apt-get download fetched nothing" >&2; exit 1; }
    dpkg -x "$deb" "$work/root"
done

mkdir -p "$DEST"
count=0
copy() {  # copy SOURCE NAME
    local suffix=${1##*.}
    cp "$1" "$DEST/$2.${suffix,,}"
    count=$((count + 1))
}

mate="$work/root/usr/share/backgrounds/mate/nature"
# RainDrops.jpg shows water drops on leaves: not a clean ground truth for deraining.
SKIP_MATE=(RainDrops)
if [[ -d "$mate" ]]; then
    for file in "$mate"/*.jpg "$mate"/*.png; do
        [[ -e "$file" ]] || continue
        name=$(basename "${file%.*}")
        [[ " ${SKIP_MATE[*]} " == *" $name "* ]] && continue
        copy "$file" "mate-$name"
    done
fi

plasma="$work/root/usr/share/wallpapers"
for name in "${PLASMA_PHOTOS[@]}"; do
    images="$plasma/$name/contents/images"
    [[ -d "$images" ]] || continue
    # Files are named WIDTHxHEIGHT.ext: keep the one with most pixels.
    largest=$(find "$images" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' \) -printf '%f\n' |
        awk -F'[x.]' '{ print $1 * $2, $0 }' | sort -n | tail -n 1 | cut -d' ' -f2)
    [[ -n "$largest" ]] && copy "$images/$largest" "plasma-$name"
done

echo "collected $count photographs into $DEST in $(( $(date +%s) - start )) s"
[[ $count -gt 0 ]]
