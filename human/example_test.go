package human_test

import (
	"fmt"
	"time"

	"switchboard/human"
)

func ExampleDuration() {
	for _, d := range []time.Duration{
		459 * time.Millisecond,
		2080 * time.Millisecond,
		2 * time.Second,
		9500 * time.Millisecond,
		30 * time.Second,
		90 * time.Second,
		5 * time.Minute,
		2 * time.Hour,
		time.Hour + 5*time.Second,
	} {
		fmt.Println(human.Duration(d))
	}
	// Output:
	// 459ms
	// 2.08s
	// 2s
	// 9.5s
	// 30s
	// 1m30s
	// 5m
	// 2h
	// 1h5s
}
