package uptime

import (
	"fmt"
	"io"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot draws the chaos fleet's whole answers over time, one line per
// strategy, as a PNG on w: the share of the requests sent in each bucket
// that were answered whole.
func (c *Chaos) Plot(w io.Writer, bucket time.Duration) error {
	p := plot.New()
	p.Title.Text = "Chaos fleet: whole answers, by when the request was sent"
	p.X.Label.Text = fmt.Sprintf("seconds into the run (%s buckets)", bucket)
	p.Y.Label.Text = "whole answers (%)"
	p.Y.Max = 100
	p.Y.Min = 100
	p.Add(plotter.NewGrid())
	// Switchboard's lines last, so that they are drawn on top; the legend
	// keeps the table's order.
	type drawn struct{ line, points plot.Thumbnailer }
	legend := make([]drawn, len(c.Strategies))
	maxX := 0.0
	order := make([]int, 0, len(c.Strategies))
	for i := len(c.Strategies) - 1; i >= 0; i-- {
		if !c.Strategies[i].Switchboard {
			order = append(order, i)
		}
	}
	for i, t := range c.Strategies {
		if t.Switchboard {
			order = append(order, i) // the dashed hedged line over the plain one
		}
	}
	for _, i := range order {
		t := c.Strategies[i]
		pts := make(plotter.XYs, 0, len(t.SentAt))
		for b, n := range t.SentAt {
			if n == 0 {
				continue
			}
			y := 100 * ratio(float64(t.WholeAt[b]), float64(n))
			pts = append(pts, plotter.XY{X: (float64(b) + 0.5) * bucket.Seconds(), Y: y})
			p.Y.Min, maxX = math.Min(p.Y.Min, y), math.Max(maxX, pts[len(pts)-1].X)
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		line.Color, points.Color, points.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		line.Width = vg.Points(1.5)
		if i%2 == 1 { // every other line dashed, so that lines on top of each other both show
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(line, points)
		legend[i] = drawn{line, points}
	}
	for i, t := range c.Strategies {
		p.Legend.Add(t.Name, legend[i].line, legend[i].points)
	}
	p.Y.Min = math.Max(0, math.Floor(p.Y.Min/10)*10-5)
	// Room on the right for the legend, clear of the lines.
	p.X.Min, p.X.Max = 0, maxX*1.45
	p.Legend.Top = true
	wt, err := p.WriterTo(9*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}
