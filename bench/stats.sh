# Statistics the benchmark scripts share; sourced, not run.

# median: of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# median_of "S1 S2 ..": of space-separated samples.
median_of() { echo "$1" | tr ' ' '\n' | grep . | median; }

# round_ratios "A1 A2 .." "B1 B2 ..": the median of B_i / A_i.  The variants
# of one round run minutes apart at most, so a round's ratio is spared
# whatever slowed the machine down for a whole round (the ratio of the
# medians is not).
round_ratios() {
    paste <(echo "$1" | tr ' ' '\n' | grep .) <(echo "$2" | tr ' ' '\n' | grep .) |
        awk '{print $2 / $1}' | median
}
