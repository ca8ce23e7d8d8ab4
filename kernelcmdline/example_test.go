package kernelcmdline_test

import (
	"fmt"

	"github.com/pxekit/pxekit/kernelcmdline"
)

// A host name with a space stays one argument; a value Linux cannot hold
// is refused rather than changed.
func ExampleJoin() {
	line, err := kernelcmdline.Join([]string{"console=ttyS0", "hostname=web 01", "quiet"})
	fmt.Println(line, err)
	for _, a := range kernelcmdline.Split(line) {
		fmt.Printf("%s=%q\n", a.Name, a.Value)
	}
	_, err = kernelcmdline.Join([]string{`motd=say "hi"`})
	fmt.Println(err)
	// Output:
	// console=ttyS0 hostname="web 01" quiet <nil>
	// console="ttyS0"
	// hostname="web 01"
	// quiet=""
	// kernelcmdline: parameter 0: kernelcmdline: argument "motd"="say \"hi\"": contains a double quote (the Linux command line has no escape for it)
}
