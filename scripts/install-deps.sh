#!/usr/bin/env bash
# Installs the Debian packages pxekit's interop tests use, when they are missing.
# As root it installs them with apt-get; otherwise it says what is missing and
# which tests will skip. Safe to run again: it installs only what is missing.
#
# Choices: dnsmasq-base (the binary only) instead of dnsmasq, because the dnsmasq
# package starts a DHCP/DNS service in the root namespace, which our network
# safety rule forbids; the peer servers the benchmarks compare with (tftpd-hpa,
# atftpd) are unpacked by bench/ with dpkg-deb -x for the same reason.
set -euo pipefail

pkgs=(
	ca-certificates
	atftp        # TFTP client with blksize/windowsize
	tftp-hpa     # tftp-hpa client
	curl         # HTTP and TFTP client
	busybox      # tftp and udhcpc
	udhcpc       # busybox udhcpc as its own package (Debian)
	dnsmasq-base # the site's main DHCP server in proxyDHCP tests (binary only)
	iproute2     # ip netns, veth, bridge, tuntap
	qemu-system-x86 # firmware end-to-end tests (-accel tcg)
	qemu-system-arm # qemu-system-aarch64 for the U-Boot end-to-end test
	u-boot-qemu  # U-Boot for QEMU's arm64 virt machine (qemu_arm64/u-boot.bin)
	pxelinux     # PXELINUX 6 (pxelinux.0) for the bootcfg end-to-end test
	syslinux-common # ldlinux.c32, which pxelinux.0 loads
	ipxe         # undionly.kpxe, ipxe.efi, snponly.efi
	ipxe-qemu    # iPXE option ROMs for QEMU NICs
	ovmf         # UEFI firmware
	shim-signed  # Secure Boot e2e: Microsoft-signed shimx64.efi
	grub-efi-amd64-signed # Secure Boot e2e: Debian-signed grubnetx64.efi
	linux-image-amd64 # Secure Boot e2e: Debian-signed kernel (/boot/vmlinuz-*)
	qemu-efi-aarch64 # AAVMF: ARM64 UEFI firmware for the GRUB arm64 e2e test
	kea-admin    # perfdhcp for DHCP benchmarks
	isc-dhcp-relay # dhcrelay between client and server namespaces: dhcpboot relay tests, pxeserver relayed lab (tests start it themselves)
	chromium     # headless browser for the status page tests (driven with chromedp)
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

# Debian's netboot GRUB for arm64 (bootcfg's AAVMF test) is in a package of
# the other architecture, grub-efi-arm64-signed:arm64: fetch the .deb and keep
# its one file; nothing of arm64 is installed.
aa64=/usr/local/share/pxekit/grubnetaa64.efi.signed
fetch_aa64() {
	[ -e "$aa64" ] && return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		echo "install-deps: not root: missing $aa64; bootcfg's AAVMF test will skip" >&2
		return 0
	fi
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		dpkg --add-architecture arm64
		apt-get update -qq
	fi
	local tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq grub-efi-arm64-signed:arm64) &&
		dpkg-deb -x "$tmp"/grub-efi-arm64-signed_*_arm64.deb "$tmp/x" &&
		install -D -m 0644 "$tmp/x/usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed" "$aa64"
	rm -rf "$tmp"
}

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all interop packages present"
	fetch_aa64
	exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "install-deps: not root (or no apt-get): missing ${missing[*]}; tests that need them will skip" >&2
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Never start services from packages in the root namespace.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
fetch_aa64
