# Installing the Debian packages a script needs, in one place. Source it, then:
#
#   need_packages COMMAND:PACKAGE ...
#
# installs (apt-get update, then apt-get install) the PACKAGE of every COMMAND that is not on
# PATH, with sudo when not running as root; returns non-zero, saying what to install, when that is
# not possible (no apt-get, or not root and no sudo) or the installation fails.
# A COMMAND of `-` checks the package itself (for libraries): need_packages -:libclang-dev
# Example: need_packages qemu-aarch64-static:qemu-user-static file:file

need_packages() {
    local pair missing=()
    for pair in "$@"; do
        if [[ ${pair%%:*} == - ]]; then
            dpkg-query -W -f='${Status}' "${pair#*:}" 2>/dev/null | grep -q 'ok installed' ||
                missing+=("${pair#*:}")
        else
            command -v "${pair%%:*}" > /dev/null 2>&1 || missing+=("${pair#*:}")
        fi
    done
    ((${#missing[@]})) || return 0

    local sudo_=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo > /dev/null 2>&1; then
            printf 'error: missing Debian packages; install them as root: apt-get install %s\n' \
                "${missing[*]}" >&2
            return 1
        fi
        sudo_=(sudo)
    fi
    if ! command -v apt-get > /dev/null 2>&1; then
        printf 'error: missing packages (Debian names): %s; no apt-get to install them\n' \
            "${missing[*]}" >&2
        return 1
    fi
    printf 'installing %s (Debian packages needed here)\n' "${missing[*]}" >&2
    "${sudo_[@]}" apt-get update -qq &&
        "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq "${missing[@]}" > /dev/null ||
        {
            printf 'error: apt-get install %s failed\n' "${missing[*]}" >&2
            return 1
        }
}

# The Debian packages the executor's engines need to build: WAMR's C sources (cmake) and its
# bindings (bindgen: libclang).
need_engine_packages() {
    need_packages cmake:cmake clang:clang -:libclang-dev
}
