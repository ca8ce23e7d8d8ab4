package bootcfg

import "testing"

// FuzzGRUBBuilder builds a menu entry from arbitrary values and reads the
// grub.cfg back with the reference reader of GRUB's lexer (readGRUB):
// every word must come back as the value given, nothing may expand, and
// Linux must read the kernel arguments from GRUB's command line unchanged;
// a refusal must have a reason.
func FuzzGRUBBuilder(f *testing.F) {
	for _, v := range hostileGRUB {
		f.Add("t "+v, "id", "/k"+v, v, "h="+v, "x", v)
	}
	f.Add("Debian", "d", "/vmlinuz", "marker", "console=ttyS0", "a=b c", "/initrd")
	f.Add("t", "", "", "", "a=it's", "--", "newc:x")
	f.Fuzz(func(t *testing.T, title, id, kernel, echo, arg1, arg2, initrd string) {
		var initrds []string
		if initrd != "" {
			initrds = []string{initrd}
		}
		checkGRUBEntry(t, title, id, kernel, echo, []string{arg1, arg2}, initrds)
	})
}
