#!/bin/sh
# Install (or uninstall) pkgward from this source tree.
#
#   installers/install.sh [--prefix DIR] [--binary PATH] [--mode enforce|audit]
#                         [--modify-path] [--tools a,b] [--force]
#   installers/install.sh --system [--prefix DIR] [--binary PATH] [--mode …]
#   installers/install.sh [--system] [--prefix DIR] --uninstall
#
# Run it with --help for what each option does. Running it twice changes
# nothing the second time: files whose content is already right are not
# rewritten, shims already in place are kept, policies are written only when
# absent, and the PATH lines are added only once.

set -eu
umask 022

me=pkgward-install
marker='# added by pkgward-install'

say() { printf '%s: %s\n' "$me" "$*"; }
warn() { printf '%s: warning: %s\n' "$me" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$me" "$*" >&2
    exit 1
}

usage() {
    cat <<'EOF'
Usage: install.sh [OPTIONS]

Builds pkgward from this source tree (cargo build --release --locked) and
installs the binary, its shims, shell completions, man pages and a baseline
policy. Safe to run again: nothing is duplicated or overwritten needlessly.

Per user (default, prefix $HOME/.local):
  <prefix>/bin/pkgward                          the binary
  <prefix>/share/pkgward/shims/                 npm, pip, cargo, … -> pkgward
  <prefix>/share/pkgward/env.sh                 puts the shims first on PATH
  <prefix>/share/bash-completion/completions/pkgward
  <prefix>/share/zsh/site-functions/_pkgward
  <prefix>/share/fish/vendor_completions.d/pkgward.fish
  <prefix>/share/man/man1/pkgward*.1
  <config dir>/pkgward/policy.toml              only if you have none yet

For all users (--system, prefix /usr/local):
  <prefix>/bin/pkgward, <prefix>/lib/pkgward/shims/, completions and man pages
  under <prefix>/share, /etc/profile.d/pkgward.sh (shims first on PATH for
  login shells) and /etc/pkgward/policy.toml (only if absent). With --prefix,
  the etc files go under <prefix>/etc instead (for tests and staging).

Options:
  --prefix DIR       install under DIR
  --system           install for all users (needs root unless --prefix is given)
  --binary PATH      install this already-built pkgward instead of building
  --mode MODE        mode of a newly written baseline policy: enforce (default)
                     or audit; an existing policy is never touched
  --modify-path      (per user) also add one line sourcing env.sh to
                     ~/.profile, ~/.bashrc and ~/.zshrc (those that exist);
                     the line is marked, so reruns do not add it again
  --tools LIST       only shim these tools (comma-separated), e.g. npm,pip
  --force            replace files in the shim directory that are not
                     pkgward shims (otherwise they are left and this fails)
  --uninstall        remove what this script installs (binary, shims,
                     completions, man pages, PATH snippets); policies and
                     audit logs are kept
  -h, --help         show this help
EOF
}

# ---------------------------------------------------------------- options
prefix=''
system=0
binary=''
mode=enforce
modify_path=0
tools=''
force=0
uninstall=0

need_arg() {
    [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"
}

while [ $# -gt 0 ]; do
    case $1 in
    --prefix)
        need_arg "$1" $#
        prefix=$2
        shift 2
        ;;
    --prefix=*)
        prefix=${1#*=}
        shift
        ;;
    --binary)
        need_arg "$1" $#
        binary=$2
        shift 2
        ;;
    --binary=*)
        binary=${1#*=}
        shift
        ;;
    --mode)
        need_arg "$1" $#
        mode=$2
        shift 2
        ;;
    --mode=*)
        mode=${1#*=}
        shift
        ;;
    --tools)
        need_arg "$1" $#
        tools=$2
        shift 2
        ;;
    --tools=*)
        tools=${1#*=}
        shift
        ;;
    --system)
        system=1
        shift
        ;;
    --modify-path)
        modify_path=1
        shift
        ;;
    --force)
        force=1
        shift
        ;;
    --uninstall)
        uninstall=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown option: $1 (see --help)" ;;
    esac
done

case $mode in
enforce | audit) ;;
*) die "--mode must be enforce or audit, not '$mode'" ;;
esac
[ "$system" = 0 ] || [ "$modify_path" = 0 ] ||
    die "--modify-path is for per-user installs; --system writes a profile.d script instead"

# Absolute form of a path (the directory need not exist yet).
absolute() {
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$(pwd)" "$1" ;;
    esac
}

# ---------------------------------------------------------------- layout
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd) || die "cannot locate the script's directory"
repo=$(CDPATH='' cd -- "$here/.." && pwd)

if [ "$system" = 1 ]; then
    if [ -n "$prefix" ]; then
        prefix=$(absolute "$prefix")
        etc=$prefix/etc
    else
        prefix=/usr/local
        etc=/etc
        if [ "$(id -u)" != 0 ]; then
            die "--system writes to $prefix and $etc: run it as root (sudo), or pass --prefix DIR"
        fi
    fi
    shims=$prefix/lib/pkgward/shims
    env_file=$etc/profile.d/pkgward.sh
    policy=$etc/pkgward/policy.toml
else
    [ -n "${HOME:-}" ] || die "HOME is not set; cannot install per user (pass --prefix, or use --system)"
    if [ -n "$prefix" ]; then
        prefix=$(absolute "$prefix")
    else
        prefix=$HOME/.local
    fi
    shims=$prefix/share/pkgward/shims
    env_file=$prefix/share/pkgward/env.sh
    # The user layer where pkgward reads it (dirs::config_dir()).
    if [ "$(uname -s)" = Darwin ]; then
        config_dir="$HOME/Library/Application Support"
    else
        case ${XDG_CONFIG_HOME:-} in
        /*) config_dir=$XDG_CONFIG_HOME ;;
        *) config_dir=$HOME/.config ;;
        esac
    fi
    policy=$config_dir/pkgward/policy.toml
fi
bindir=$prefix/bin
dest_bin=$bindir/pkgward
bash_comp=$prefix/share/bash-completion/completions/pkgward
zsh_comp=$prefix/share/zsh/site-functions/_pkgward
fish_comp=$prefix/share/fish/vendor_completions.d/pkgward.fish
man1=$prefix/share/man/man1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pkgward-install.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

written=0
unchanged=0

# install_file SRC DEST MODE: puts SRC at DEST (atomically, through a
# temporary file beside it) unless DEST already has the same content.
install_file() {
    if [ -f "$2" ] && [ ! -L "$2" ] && cmp -s "$1" "$2"; then
        chmod "$3" "$2" 2>/dev/null || true
        unchanged=$((unchanged + 1))
        return 0
    fi
    mkdir -p "$(dirname "$2")" || die "cannot create $(dirname "$2")"
    cp "$1" "$2.tmp.$$" || die "cannot write $2"
    chmod "$3" "$2.tmp.$$" || die "cannot set the mode of $2"
    mv -f "$2.tmp.$$" "$2" || {
        rm -f "$2.tmp.$$"
        die "cannot write $2"
    }
    say "wrote $2"
    written=$((written + 1))
}

# Single-quotes a string for sh.
shquote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# Double-quotes a string for sh, leaving room for a following "$VAR".
dquote_body() {
    printf '%s' "$1" | sed 's/[\\"$`]/\\&/g'
}

# The sh snippet that puts $1 first on PATH, once, and names $1 (and, if
# given, $2 as the system policy) to pkgward. Sourced by sh, bash, dash, zsh.
env_script() {
    q_dir=$(shquote "$1")
    cat <<EOF
# pkgward: puts the pkgward shims first on PATH, so that npm, pip, cargo, …
# run through pkgward. Written by pkgward's installers/install.sh; it is
# rewritten on reinstall and removed by install.sh --uninstall.
# Sourcing it again does not add a second copy: the shim directory is put
# at the front and every other occurrence of it is dropped.
_pkgward_dir=$q_dir
_pkgward_rest=":\${PATH-}:"
while :; do
    case \$_pkgward_rest in
    *":\${_pkgward_dir}:"*)
        _pkgward_rest="\${_pkgward_rest%%:"\${_pkgward_dir}":*}:\${_pkgward_rest#*:"\${_pkgward_dir}":}"
        ;;
    *) break ;;
    esac
done
_pkgward_rest=\${_pkgward_rest#:}
_pkgward_rest=\${_pkgward_rest%:}
PATH="\${_pkgward_dir}\${_pkgward_rest:+:\${_pkgward_rest}}"
export PATH
# Where \`pkgward shims list|remove\` and \`pkgward doctor\` look by default.
if [ -z "\${PKGWARD_SHIM_DIR-}" ]; then
    PKGWARD_SHIM_DIR=\$_pkgward_dir
    export PKGWARD_SHIM_DIR
fi
unset _pkgward_dir _pkgward_rest
EOF
    if [ -n "${2:-}" ]; then
        cat <<EOF
# The system policy lives outside /etc/pkgward: pkgward reads it from here
# only while /etc/pkgward/policy.toml does not exist.
if [ -z "\${PKGWARD_SYSTEM_POLICY-}" ]; then
    PKGWARD_SYSTEM_POLICY=$(shquote "$2")
    export PKGWARD_SYSTEM_POLICY
fi
EOF
    fi
}

# The marked line that sources env.sh from a shell startup file.
rc_line() {
    q=$(shquote "$env_file")
    printf 'if [ -f %s ]; then . %s; fi  %s\n' "$q" "$q" "$marker"
}

# Drops the marked lines naming our env.sh from startup file $1 (if any).
# Writes through `cat >` so a symlinked or specially-moded file stays so.
rc_remove() {
    [ -f "$1" ] || return 0
    PW_MARK=$marker PW_ENV=$env_file awk \
        '!(index($0, ENVIRON["PW_MARK"]) && index($0, ENVIRON["PW_ENV"]))' \
        "$1" >"$tmp/rc" || die "cannot read $1"
    if ! cmp -s "$1" "$tmp/rc"; then
        cat "$tmp/rc" >"$1" || die "cannot rewrite $1"
        say "removed the pkgward line from $1"
    fi
}

# ---------------------------------------------------------------- uninstall
if [ "$uninstall" = 1 ]; then
    if [ -d "$shims" ]; then
        if [ -x "$dest_bin" ]; then
            "$dest_bin" shims remove --dir "$shims" >/dev/null ||
                die "pkgward shims remove --dir $shims failed"
        fi
        # Leftovers (e.g. the binary is already gone): links to a pkgward.
        for f in "$shims"/* "$shims"/.[!.]*; do
            [ -L "$f" ] || continue
            case $(readlink "$f") in
            */pkgward | pkgward) rm -f "$f" ;;
            esac
        done
        rmdir "$shims" 2>/dev/null || warn "$shims is not empty (files that are not pkgward shims); left in place"
        say "removed the shims from $shims"
    fi
    for f in "$dest_bin" "$bash_comp" "$zsh_comp" "$fish_comp" "$env_file" \
        "$man1"/pkgward.1 "$man1"/pkgward-*.1; do
        if [ -e "$f" ] || [ -L "$f" ]; then
            rm -f "$f" || die "cannot remove $f"
            say "removed $f"
        fi
    done
    rmdir "$(dirname "$shims")" 2>/dev/null || true
    if [ "$system" = 0 ]; then
        for rc in "$HOME/.profile" "$HOME/.bashrc" "$HOME/.zshrc"; do
            rc_remove "$rc"
        done
    fi
    if [ -e "$policy" ]; then
        say "kept the policy $policy (delete it yourself if you no longer want it)"
    fi
    if [ "$system" = 1 ]; then
        say "kept the audit logs (each user's PKGWARD_STATE_DIR or state directory, e.g. ~/.local/state/pkgward)"
    else
        case ${XDG_STATE_HOME:-} in
        /*) state=$XDG_STATE_HOME/pkgward ;;
        *) state=$HOME/.local/state/pkgward ;;
        esac
        say "kept the audit log in ${PKGWARD_STATE_DIR:-$state}"
    fi
    say "pkgward is uninstalled from $prefix"
    exit 0
fi

# ---------------------------------------------------------------- build
if [ -n "$binary" ]; then
    binary=$(absolute "$binary")
    if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
        die "--binary $binary is not an executable file"
    fi
else
    [ -f "$repo/Cargo.toml" ] || die "no Cargo.toml in $repo: run the script from a pkgward source tree, or pass --binary PATH"
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found on PATH: install a Rust toolchain (1.89 or newer), or pass --binary PATH"
    say "building pkgward (installers/build-release.sh: cargo build --release --locked) in $repo"
    binary=$(sh "$repo/installers/build-release.sh") || die "cargo build failed"
    [ -x "$binary" ] || die "cargo build succeeded but $binary is missing"
fi
version=$("$binary" --version 2>/dev/null) || die "$binary --version failed: is it a pkgward binary for this machine?"
case $version in
"pkgward "*) ;;
*) die "$binary is not pkgward (--version said: $(printf '%s\n' "$version" | sed -n 1p))" ;;
esac

# ---------------------------------------------------------------- binary
install_file "$binary" "$dest_bin" 0755
pw=$dest_bin

# ---------------------------------------------------------------- shims
set -- shims install --dir "$shims"
[ -z "$tools" ] || set -- "$@" --tools "$tools"
[ "$force" = 0 ] || set -- "$@" --force
if ! out=$("$pw" "$@"); then
    die "pkgward shims install --dir $shims failed (see above; --force replaces files that are not pkgward shims)"
fi
printf '%s\n' "$out" | sed -n '1s/^pkgward: /'"$me"': /p'

# ---------------------------------------------------------------- completions, man
"$pw" completions bash >"$tmp/bash" || die "pkgward completions bash failed"
"$pw" completions zsh >"$tmp/zsh" || die "pkgward completions zsh failed"
"$pw" completions fish >"$tmp/fish" || die "pkgward completions fish failed"
install_file "$tmp/bash" "$bash_comp" 0644
install_file "$tmp/zsh" "$zsh_comp" 0644
install_file "$tmp/fish" "$fish_comp" 0644
"$pw" man --output "$tmp/man" >/dev/null || die "pkgward man failed"
for page in "$tmp/man"/*.1; do
    install_file "$page" "$man1/$(basename "$page")" 0644
done

# ---------------------------------------------------------------- PATH snippet
if [ "$system" = 1 ] && [ "$etc" != /etc ]; then
    env_script "$shims" "$policy" >"$tmp/env"
else
    env_script "$shims" >"$tmp/env"
fi
install_file "$tmp/env" "$env_file" 0644

# ---------------------------------------------------------------- policy
if [ -e "$policy" ]; then
    say "kept the existing policy $policy"
else
    set -- policy init --path "$policy"
    [ "$mode" = enforce ] || set -- "$@" --audit
    # The shim directory is named so that registry detection asks the real
    # npm/pip, never our own shims.
    PKGWARD_SHIM_DIR=$shims "$pw" "$@" || die "pkgward policy init --path $policy failed"
    chmod 0644 "$policy" 2>/dev/null || true
    written=$((written + 1))
fi
"$pw" policy check "$policy" >/dev/null ||
    warn "$policy does not validate: run '$pw policy check $policy'"

# ---------------------------------------------------------------- PATH
if [ "$modify_path" = 1 ]; then
    line=$(rc_line)
    if [ ! -f "$HOME/.profile" ] && [ ! -f "$HOME/.bashrc" ] && [ ! -f "$HOME/.zshrc" ]; then
        : >"$HOME/.profile" || die "cannot create $HOME/.profile"
        say "created $HOME/.profile"
    fi
    for rc in "$HOME/.profile" "$HOME/.bashrc" "$HOME/.zshrc"; do
        [ -f "$rc" ] || continue
        if grep -qxF "$line" "$rc"; then
            unchanged=$((unchanged + 1))
            continue
        fi
        # A marked line for another prefix's env.sh is replaced, not stacked.
        if grep -qF "$marker" "$rc"; then
            PW_MARK=$marker awk '!index($0, ENVIRON["PW_MARK"])' "$rc" >"$tmp/rc" ||
                die "cannot read $rc"
            cat "$tmp/rc" >"$rc" || die "cannot rewrite $rc"
        fi
        # (after a newline of its own if the file does not end with one)
        if [ -s "$rc" ] && [ -n "$(tail -c 1 "$rc")" ]; then
            printf '\n' >>"$rc" || die "cannot write $rc"
        fi
        printf '%s\n' "$line" >>"$rc" || die "cannot write $rc"
        say "added the PATH line to $rc"
        written=$((written + 1))
    done
fi

if [ "$written" = 0 ]; then
    say "$version is already installed in $prefix; nothing changed"
else
    say "$version installed in $prefix ($written written, $unchanged already up to date)"
fi
case ":${PATH-}:" in
*":$bindir:"*) ;;
*) say "note: $bindir is not on PATH; run pkgward as $dest_bin or add that directory to PATH" ;;
esac

if [ "$system" = 1 ]; then
    if [ "$etc" = /etc ]; then
        say "login shells get the shims first on PATH from $env_file; for this shell, or a CI job or container, use:"
    else
        say "$env_file is not read by any shell by itself; source it, or use:"
    fi
else
    if [ "$modify_path" = 1 ]; then
        say "new shells will have the shims first on PATH; for this shell run:"
    else
        say "put the shims first on PATH: add this line to ~/.profile, ~/.bashrc or ~/.zshrc (or rerun with --modify-path), and run it now:"
    fi
fi
# shellcheck disable=SC2016 # $PATH is for the user's shell to expand
printf 'export PATH="%s:$PATH"\n' "$(dquote_body "$shims")"
case ${SHELL:-} in
*/fish) say "fish: fish_add_path --prepend $(shquote "$shims")" ;;
esac
