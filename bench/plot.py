"""Renders the benchmark plots from bench/results/latest.json (run by bench/report.ts)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

results_file, out_dir = sys.argv[1], sys.argv[2]
with open(results_file) as f:
    r = json.load(f)

fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
for name, pts in r["rates"].items():
    rates = [p["rate"] for p in pts]
    line = ax.plot(rates, [p["p50"] for p in pts], marker="o", label=f"{name} p50")[0]
    ax.plot(rates, [p["p99"] for p in pts], marker="x", linestyle="--", color=line.get_color(), label=f"{name} p99")
ax.set_xlabel("requests per second (target)")
ax.set_ylabel("Check latency (ms)")
ax.set_yscale("log")
ax.set_title("ext_authz Check latency vs rate (direct gRPC, 2 KB body)")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(f"{out_dir}/latency-vs-rate.png")

fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
sizes = [b["size"] / 1024 for b in r["bodySizes"]]
ax.plot(sizes, [b["p50"] for b in r["bodySizes"]], marker="o", label="p50")
ax.plot(sizes, [b["p99"] for b in r["bodySizes"]], marker="x", linestyle="--", label="p99")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("request body (KB)")
ax.set_ylabel("Check latency (ms)")
ax.set_title("llm-authz Check latency vs body size (one request at a time)")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(f"{out_dir}/cost-vs-body-size.png")

fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
n = [p["n"] for p in r["rules"]]
ax.plot(n, [p["cpuMsPer1k"] for p in r["rules"]], marker="o", label="CPU ms per 1k checks")
ax.set_xlabel("policy rules")
ax.set_ylabel("CPU ms per 1k checks")
ax2 = ax.twinx()
ax2.plot(n, [p["rps"] for p in r["rules"]], marker="x", linestyle="--", color="tab:orange", label="req/s")
ax2.set_ylabel("req/s (max)")
ax.set_title("llm-authz cost vs number of CEL rules")
ax.grid(True, alpha=0.3)
fig.legend(loc="upper center", fontsize=8)
fig.tight_layout()
fig.savefig(f"{out_dir}/cost-vs-rules.png")
