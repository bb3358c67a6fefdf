package main

import (
	"io"
	"math"
	"strings"
	"testing"
)

// Rounds on a machine that slows down from one round to the next, as in a
// full run of 2026-11-24 (batch starts 1.61×, 1.43× and
// 1.21× River per round), and a round that ran only lro's case.
func TestRatiosPairFiguresByRound(t *testing.T) {
	rounds := []figures{
		{"pg_end_to_end_ops_per_s": 23500, "river_end_to_end_jobs_per_s": 14600},
		{"pg_end_to_end_ops_per_s": 18078, "river_end_to_end_jobs_per_s": 12640},
		{"pg_end_to_end_ops_per_s": 14200, "river_end_to_end_jobs_per_s": 11740},
		{"pg_end_to_end_ops_per_s": 30000},
	}
	f := figures{}
	addRatios(f, rounds)
	got, ok := f["pg_end_to_end_vs_river_ratio"]
	if !ok {
		t.Fatal("no ratio")
	}
	// The rounds' ratios are 1.61, 1.43 and 1.21; the fourth round has no
	// River figure and no ratio. The ratio of the medians, 20,789 over
	// 12,640, would be 1.64.
	if want := 18078.0 / 12640; math.Abs(got-want) > 1e-9 {
		t.Errorf("ratio = %.4f, want the median of the rounds' ratios, %.4f", got, want)
	}
	if _, ok := f["pg_started_first_vs_river_bench_ratio"]; ok {
		t.Error("a ratio without figures")
	}
}

func TestRatioOfAnEvenNumberOfRounds(t *testing.T) {
	rounds := []figures{
		{"reads_pg_gets_per_s": 10_000, "grpc_only_gets_per_s": 20_000},
		{"reads_pg_gets_per_s": 9_000, "grpc_only_gets_per_s": 10_000},
		{"reads_pg_gets_per_s": 5_000, "grpc_only_gets_per_s": 0}, // no ratio
	}
	f := figures{}
	addRatios(f, rounds)
	if got, want := f["reads_pg_gets_vs_grpc_only_ratio"], (0.5+0.9)/2; math.Abs(got-want) > 1e-9 {
		t.Errorf("ratio = %.4f, want %.4f", got, want)
	}
}

func TestCheckFloors(t *testing.T) {
	var out strings.Builder
	if err := checkFloors(&out, figures{"pg_end_to_end_vs_river_ratio": 1.3, "pg_single_starts_64_vs_river_ratio": 3.2}); err != nil {
		t.Errorf("ratios over their floors: %v", err)
	}
	if !strings.Contains(out.String(), "pg_end_to_end_vs_river_ratio = 1.30x, floor 0.90x: ok") {
		t.Errorf("report:\n%s", out.String())
	}
	err := checkFloors(io.Discard, figures{"pg_end_to_end_vs_river_ratio": 1.3, "pg_started_first_vs_river_bench_ratio": 0.87})
	if err == nil || !strings.Contains(err.Error(), "pg_started_first_vs_river_bench_ratio 0.87 < 0.90") {
		t.Errorf("a ratio under its floor: err = %v", err)
	}
	if err := checkFloors(io.Discard, figures{"sqlite_end_to_end_ops_per_s": 30000}); err == nil {
		t.Error("a run without any checked ratio passed")
	}
}
