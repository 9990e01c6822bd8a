# Shared by the host-side scripts of the VM test bed (bash). Source it.
# Sets ITR_REPO, ITR_VM_DIR (default <repo>/build/vm), ITR_VM_CACHE and
# helpers to read scripts/vm/kernels.conf.

ITR_VM_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ITR_REPO=$(cd "$ITR_VM_SCRIPTS/../.." && pwd)
# The guest's architecture: amd64, or arm64 (scripts/vmtest.sh --arch arm64),
# which has its own kernel list and work directory.
ITR_VM_ARCH=${ITR_VM_ARCH:-amd64}
case $ITR_VM_ARCH in
amd64) _itr_vm_sub=vm _itr_vm_conf=kernels.conf ;;
arm64) _itr_vm_sub=vm-arm64 _itr_vm_conf=kernels-arm64.conf ;;
*) printf 'ITR_VM_ARCH=%s: amd64 or arm64\n' "$ITR_VM_ARCH" >&2; exit 2 ;;
esac
ITR_VM_DIR=${ITR_VM_DIR:-$ITR_REPO/build/$_itr_vm_sub}
ITR_VM_CACHE=${ITR_VM_CACHE:-$ITR_VM_DIR/cache}
ITR_KERNELS_CONF=${ITR_KERNELS_CONF:-$ITR_VM_SCRIPTS/$_itr_vm_conf}

vm_log() { printf '%s\n' "$*" >&2; }
vm_die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# All kernel keys, in file order.
vm_kernel_keys() {
	awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$ITR_KERNELS_CONF"
}

# vm_kernel_conf KEY: sets K_KEY K_ABI_ERE K_FLAVOUR K_SUITES K_KMAKE_ARGS.
vm_kernel_conf() {
	local line
	line=$(awk -v k="$1" '!/^[[:space:]]*#/ && $1 == k { print; exit }' "$ITR_KERNELS_CONF")
	[ -n "$line" ] || vm_die "unknown kernel '$1' (known: $(vm_kernel_keys | tr '\n' ' '))"
	# shellcheck disable=SC2086
	set -- $line
	K_KEY=$1 K_ABI_ERE=$2 K_FLAVOUR=$3 K_SUITES=$4
	shift 4
	K_KMAKE_ARGS="$*"
}

# QEMU accelerator options for a kernel: 6.12 guests sometimes hit an int3
# Oops at boot under multi-threaded TCG, so every kernel runs single-threaded
# TCG on one vCPU (the tests do not need SMP; it also keeps one core free).
# ITR_VM_SMP=N (N > 1) asks for N vCPUs on multi-threaded TCG instead, for
# benchmarks where the tracer's reader should not share the sender's vCPU
# (known to work with the 5.10 and 6.1 guests).
vm_qemu_accel() {
	case ${ITR_VM_SMP:-1} in
	1) echo "-accel tcg,thread=single -smp 1" ;;
	*[!0-9]*) vm_die "ITR_VM_SMP=$ITR_VM_SMP: want a number of vCPUs" ;;
	*) echo "-accel tcg,thread=multi -smp $ITR_VM_SMP" ;;
	esac
}
