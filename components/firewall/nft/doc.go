// Package nft is a small model of one nftables table: named counters, sets and
// verdict maps (with concatenated, interval keys), chains and rules built from
// a handful of statements. A Table renders to deterministic nft text (golden
// files, dry runs, the `nft -f` reference in benchmarks) and is written to the
// kernel through github.com/google/nftables by an Applier, always as one
// netlink batch: the kernel applies the whole change or none of it.
package nft
