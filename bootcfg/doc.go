// Package bootcfg writes and reads the configuration files that boot
// loaders fetch over the network after the firmware: PXELINUX/extlinux
// files (pxelinux.cfg/…, read by SYSLINUX's PXELINUX and by U-Boot's pxe
// and sysboot commands) and GRUB's grub.cfg. Each format has a syntax
// tree with a parser and a printer that round-trip, and a builder that
// takes plain values (paths, URLs, kernel arguments) and either writes
// them so that the loader reads back exactly those values or refuses
// them with an error naming the field and the reason. Kernel command
// lines go through package kernelcmdline, the one set of rules pxekit
// uses for every loader.
//
// # PXELINUX and extlinux
//
// [ParsePXELinux] reads a file into a [PXELinux]: the directives before
// the first label, then the labels with theirs, every line kept (unknown
// keywords, comments and blank lines too), so that [PXELinux.Format]
// writes a file both loaders read the same way. [BuildPXELinux] makes one
// from a [PXELinuxSpec] (entries with a kernel, initrds, a device tree and
// the kernel's arguments); [PXELinux.Spec] reads the typed values back.
//
// The rules come from the two readers: SYSLINUX 6
// (com32/elflink/ldlinux/readconfig.c, parse_config_file, and kernel.c,
// new_linux_kernel) and U-Boot (boot/pxe_utils.c, parse_pxefile_top and
// label_boot; Debian 12 ships 2023.01):
//
//   - A file is lines; a directive is a keyword (case-insensitive in both)
//     and the rest of its line. Neither reader has quoting or an escape
//     character, so a value can never hold a line break: LF ends the
//     directive and SYSLINUX drops everything after a CR. SYSLINUX reads
//     lines with fgets into 4096 bytes, so a longer line is cut and its
//     tail read as a new directive: lines are limited to
//     [PXELinuxMaxLine] bytes.
//   - Blanks before a value are skipped by both readers (a value cannot
//     start with one); blanks after it are kept by both.
//   - '#' starts a comment only as the first character of a line in
//     SYSLINUX (a line that starts with no keyword is ignored), but U-Boot
//     also treats a value that starts with '#' as a comment (and fails):
//     values never start with '#'. U-Boot cuts a kernel name at '#' (a FIT
//     configuration), so kernel paths hold no '#'.
//   - SYSLINUX takes only the first word of a label, default or kernel
//     line (the rest of a kernel line are arguments); U-Boot the whole
//     line. Names and paths therefore hold no blank. An initrd line is a
//     ','-separated list to SYSLINUX and one name to U-Boot: one initrd,
//     with no ','.
//   - Both look for the first "initrd=" anywhere in the append line to
//     find initrds (SYSLINUX even inside another argument's value), so no
//     argument may contain "initrd="; the builder writes initrd lines.
//   - U-Boot expands ${var} and $(var) in append, removes one level of
//     '\' and drops single quotes (cli_simple_process_macros), while
//     SYSLINUX passes the line as it is: an argument holding a backslash, a single quote,
//     "${", "$(" or ending in '$' cannot mean the same to both and is
//     refused. Every other byte of an argument (spaces, '"'-free quoting,
//     ';', '&', '|', '$' elsewhere, UTF-8) arrives literally.
//   - SYSLINUX runs the file a kernel line names by its extension (.c32,
//     .0, .bss…); the builder writes linux lines, which both readers load
//     as a Linux kernel whatever the name.
//
// [PXELinuxPaths] and [UBootPXEPaths] list the names each loader tries
// (UUID, 01-<mac>, hexadecimal IP prefixes, default-<arch>…, default), and
// [PXELinuxHandler] serves generated per-client files under those names
// from a tftpserve server.
package bootcfg
