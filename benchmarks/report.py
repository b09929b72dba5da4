"""Renders the benchmark results as Markdown: a summary table first, then each section in detail."""

from __future__ import annotations

from typing import Any

from aftercare_bot.bot.telegram.rate_limit import OVERALL_INTERVAL, OVERALL_SLACK

CAPACITY_GOAL = 0.7
SPACED_30 = 30 * OVERALL_INTERVAL - OVERALL_SLACK  # the least time 30 paced messages in a row take
FLOOD_GOAL = 0.95


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def capacity_met(section: dict[str, Any]) -> bool:
    return section["ratio"] >= CAPACITY_GOAL


def flood_met(section: dict[str, Any]) -> bool:
    share_met = section["share_of_limit"] >= FLOOD_GOAL
    return section["drained"] and share_met and section["too_many_requests"] == 0


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    sections = report["sections"]
    rows: list[tuple[str, str]] = []
    if "capacity" in sections:
        c = sections["capacity"]
        rows.append(("Dispatch capacity, SQLite, flood limits off",
                     f"{_n(c['bot_rate'], 0)} msg/s vs {_n(c['bare_client_rate'], 0)} msg/s for a bare "
                     f"PTB client: ratio **{_n(c['ratio'], 3)}** "
                     f"(goal ≥ {CAPACITY_GOAL}: {_verdict(capacity_met(c))})"))
    if "flood" in sections:
        f = sections["flood"]
        rows.append((f"Flood limits on, {_n(f['rows'])} due messages",
                     f"{_n(f['rate'], 1)} msg/s = **{_n(100 * f['share_of_limit'], 1)} %** of 30/s, "
                     f"**{f['too_many_requests']}** × 429, at most {f['max_per_chat_in_any_second']} "
                     f"per chat per second (goal ≥ 95 %, no 429: {_verdict(flood_met(f))})"))
    if "scale" in sections:
        s = sections["scale"]
        for backend, verdict in s["flat"].items():
            mine = [row for row in s["rows"] if row["backend"] == backend]
            ticks = " / ".join(_n(row["run_due_ms"], 1) for row in mine)
            lookups = " / ".join(_n(row["next_due_ms"], 1) for row in mine)
            memory = " / ".join(_n(row["rss_mb"], 0) for row in mine)
            sizes = " / ".join(_short(row["pending"]) for row in mine)
            rows.append((f"Idle tick, {backend}, {sizes} pending",
                         f"run_due {ticks} ms; next_due {lookups} ms; RSS {memory} MiB: "
                         f"**{'flat' if verdict['flat'] else 'not flat'}**"))
    if "inbound" in sections:
        i = sections["inbound"]
        calm = i["calm"]
        rows.append((f"Red flag → staff card, {_n(i['rate'], 0)} updates/s, flood limits off",
                     f"p50 **{_n(i['p50_ms'], 0)} ms**, p99 **{_n(i['p99_ms'], 0)} ms** "
                     f"({i['cards']} of {i['messages']} cards; the bot kept up with "
                     f"{_n(i['card_rate'], 1)} cards/s)"))
        rows.append((f"Red flag → staff card, {_n(calm['rate'], 0)} updates/s, flood limits off",
                     f"p50 **{_n(calm['p50_ms'], 0)} ms**, p99 **{_n(calm['p99_ms'], 0)} ms** "
                     f"({calm['cards']} of {calm['messages']} cards)"))
    if "bursts" in sections:
        for burst in sections["bursts"]["bursts"]:
            title = (f"Burst of {_n(burst['red_flags'])} red flags at {_n(burst['rate'], 0)}/s, Telegram's limits on, "
                     f"{_tier(burst)}")
            rows.append((title,
                         f"safety reply p50 **{_n(burst['answer_p50_ms'], 0)} ms**, p99 "
                         f"**{_n(burst['answer_p99_ms'], 0)} ms**; every case shown to staff after "
                         f"**{_n(burst['all_shown_after_s'], 1)} s**; plan messages at most "
                         f"**{_n(burst['plan_late_max_s'], 1)} s** late; {burst['flood_limited']} × 429; "
                         f"{_n(burst.get('paid_broadcasts', 0))} paid ({_n(burst.get('stars_spent', 0), 1)} Stars)"))
    if "peer" in sections:
        p = sections["peer"]
        naive = p["naive"]
        for backend, bot in p["bot"].items():
            ratio = p["ratios"][backend]
            rows.append((
                f"Start-up with {_short(p['messages'])} scheduled, vs one APScheduler job each ({backend})",
                f"{_n(bot['start_seconds'], 2)} s vs {_n(naive['start_seconds'], 2)} s "
                f"(**{_n(ratio['start_time_naive_over_bot'], 1)}×** faster); "
                f"RSS {_n(bot['rss_mb'], 0)} vs {_n(naive['rss_mb'], 0)} MiB "
                f"(**{_n(ratio['rss_naive_over_bot'], 1)}×** less; "
                f"{_n(ratio['rss_added_naive_over_bot'], 0)}× less above the imports)",
            ))
    if "report" in sections:
        for row in sections["report"]["rows"]:
            met = row["year_seconds"] < sections["report"]["goal_seconds"]
            rows.append((f"Manager's report, {row['backend']}, {_short(row['deliveries'])} plan messages and "
                         f"{_short(row['cases'])} cases",
                         f"a year (every row): **{_n(row['year_seconds'], 2)} s**; 30 days: "
                         f"{_n(row['month_seconds'], 2)} s; drawing the chart {_n(row['draw_seconds'], 2)} s "
                         f"(goal < 2 s: {_verdict(met)})"))
    return rows


def _short(count: int) -> str:
    if count >= 999_000:
        return f"{count / 1_000_000:.0f}M"
    if count >= 1000:
        return f"{count / 1000:.0f}k"
    return str(count)


def render_markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        "# Benchmark report",
        "",
        f"Size **{report['size']}**, {report['started']} to {report['finished']}. "
        f"{machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, {machine['os']}, "
        f"Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {machine['postgresql'] or 'not used'}; "
        f"load average {_load(machine['load_average_before'])} before, "
        f"{_load(report['load_average_after'])} after.",
        "",
        "| Measurement | Result |",
        "| --- | --- |",
        *(f"| {name} | {result} |" for name, result in summary_rows(report)),
        "",
        "Packages: " + ", ".join(f"{name} {version}" for name, version in machine["packages"].items()) + ".",
        "",
    ]
    sections = report["sections"]
    for name, render in (("capacity", _capacity), ("flood", _flood), ("scale", _scale), ("inbound", _inbound),
                         ("bursts", _bursts), ("peer", _peer), ("report", _report)):
        if name in sections:
            lines += [*render(sections[name]), ""]
    return "\n".join(lines)


def _load(values: list[float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def _capacity(c: dict[str, Any]) -> list[str]:
    low, high = c["turn_ratio_range"]
    lines = [
        "## 1. Dispatch capacity",
        "",
        f"{_n(c['rows'])} due messages to different chats per round, SQLite, flood limits off, "
        f"{c['concurrency']} requests in flight on both sides, the dispatcher claiming up to {c['batch_size']} "
        "rows at a time, the next batch while the last sends of the current one are on their way. "
        f"The two sides take turns in {c['chunks']} chunks per round, so that a drift in the machine's load "
        "hits both; rates are totals. CPU is the share of one core the measuring "
        "process used.",
        "",
        "| Round | Bare PTB client msg/s | CPU | Bot dispatcher msg/s | CPU | Ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for number, one in enumerate(c["per_round"], 1):
        lines.append(f"| {number} | {_n(one['bare_rate'], 0)} | {_n(one['bare_cpu'], 2)} | "
                     f"{_n(one['bot_rate'], 0)} | {_n(one['bot_cpu'], 2)} | "
                     f"{_n(one['bot_rate'] / one['bare_rate'], 2)} |")
    verdict = _verdict(capacity_met(c))
    lines += ["", f"Ratio **{_n(c['ratio'], 3)}** (turn by turn: median {_n(c['turn_ratio_median'], 2)}, "
                  f"from {_n(low, 2)} to {_n(high, 2)}); goal ≥ {CAPACITY_GOAL}: {verdict}."]
    return lines


def _flood(f: dict[str, Any]) -> list[str]:
    return [
        "## 2. Flood-limit fidelity",
        "",
        f"{_n(f['rows'])} due messages ({f['clients_with_two_due']} clients with two due at once), the "
        "running bot with FLOOD_LIMITS=true, the emulator refusing anything beyond 30/s overall, 1/s per "
        "chat, 20/min per group.",
        "",
        "| Drained | Seconds | Rate (msg/s) | Share of 30/s | 429 answers | Most in any 1 s "
        "| Most per chat in 1 s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {_n(f['drained'])} | {_n(f['drain_seconds'], 1)} | {_n(f['rate'], 2)} | "
        f"{_n(100 * f['share_of_limit'], 1)} % | {f['too_many_requests']} | {f['max_sent_in_any_second']} | "
        f"{f['max_per_chat_in_any_second']} |",
        "",
        f"Goal ≥ {100 * FLOOD_GOAL:.0f} % of 30/s with no 429: {_verdict(flood_met(f))}.",
        "",
        f"Closest to the limit: 30 messages in a row took {_n(f['shortest_span_of_30'], 3)} s at the "
        f"emulator (the limiter spaces them at least {_n(SPACED_30, 3)} s apart). "
        f"Pauses over 100 ms: {f['gaps_over_100ms']}, {_n(f['seconds_in_gaps_over_100ms'], 2)} s in all, "
        f"the longest {_n(f['longest_gap'], 2)} s. Worst event-loop stall (longest garbage collection): "
        f"bot {_stall(f['bot_process'])}, emulator {_stall(f['emulator_process'])}.",
    ]


def _stall(process: dict[str, Any]) -> str:
    return f"{_n(process['worst_loop_lag_ms'], 0)} ms ({_n(process['worst_gc_pause_ms'], 0)} ms)"


def _scale(s: dict[str, Any]) -> list[str]:
    lines = [
        "## 3. Scale: idle tick and memory",
        "",
        "Pending messages spread over six weeks, none due; each size measured in a fresh process. Times "
        "are the median (and 95th percentile) of the passes.",
        "",
        "| Backend | Pending | run_due ms (p95) | next_due ms (p95) | First tick ms | RSS MiB "
        "| Database MiB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in s["rows"]:
        tick = f"{_n(row['run_due_ms'], 2)} ({_n(row['run_due_p95_ms'], 2)})"
        lookup = f"{_n(row['next_due_ms'], 2)} ({_n(row['next_due_p95_ms'], 2)})"
        lines.append(
            f"| {row['backend']} | {_n(row['pending'])} | {tick} | {lookup} | "
            f"{_n(row['first_tick_ms'], 0)} | {_n(row['rss_mb'], 1)} | {_n(row['database_mb'], 1)} |"
        )
    lines.append("")
    for backend, verdict in s["flat"].items():
        scans = "; ".join(verdict["full_scans"]) or "none"
        flat = "flat" if verdict["flat"] else "not flat"
        lines.append(
            f"- {backend}: from {_n(verdict['from'])} to {_n(verdict['to'])} pending, run_due × "
            f"{_n(verdict['run_due_ratio'], 2)}, next_due × {_n(verdict['next_due_ratio'], 2)}, RSS "
            f"{verdict['rss_growth_mb']:+.1f} MiB; full table scans: {scans} → **{flat}**"
        )
    largest = {row["backend"]: row for row in s["rows"]}
    lines += ["", "Query plans at the largest size:", ""]
    for backend, row in largest.items():
        lines += [f"- {backend}:"] + [f"  - `{plan}`" for plan in row["plans"]]
    return lines


def _inbound(i: dict[str, Any]) -> list[str]:
    lines = [
        "## 4. Inbound: red flag to staff card",
        "",
        "Each client sends one red-flag message, at a steady rate; time from the update being queued to the "
        "case card in the staff chat, both by the emulator's clock. Flood limits off. Cards/s: cards posted "
        "from the first message in to the last card out, what the bot kept up with.",
        "",
        "| Rate asked (achieved) /s | Messages | Cards | Missing | Cards/s | p50 ms | p99 ms | Max ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in (i["calm"], i):
        lines.append(
            f"| {_n(run['rate'], 0)} ({_n(run['offered_rate'], 1)}) | {_n(run['messages'])} | {run['cards']} "
            f"| {run['missing']} | {_n(run['card_rate'], 1)} | {_n(run['p50_ms'], 0)} "
            f"| {_n(run['p99_ms'], 0)} | {_n(run['max_ms'], 0)} |"
        )
    return lines


def _tier(burst: dict[str, Any]) -> str:
    return "safety replies paid past a saturated limit" if burst.get("tier") == "paid" else "free tier"


def _bursts(b: dict[str, Any]) -> list[str]:
    lines = [
        "## 4b. Bursts of red flags with Telegram's limits on",
        "",
        "Clients send red flags at the rate shown while 20 other clients' plan messages fall due 5 s into the burst; "
        "the emulator enforces 30 messages/s, 1/s per chat and 20/min in the staff group (429 beyond). Safety reply: "
        "from each red flag to its answer. Shown: from the first red flag until every case is on a card or a digest "
        "line in the staff chat. Plan lateness: after their due time. Tier: free, or SAFETY_PAID_BROADCAST (safety "
        "replies sent as paid broadcasts, 0.1 Star each, while Telegram's overall limit is saturated).",
        "",
        "| Red flags | Rate /s | Tier | Written in s | Safety reply p50 / p99 / max ms | All cases shown after s | "
        "Plan messages late, max s | 429 | Paid (Stars) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in b["bursts"]:
        lines.append(
            f"| {_n(run['red_flags'])} | {_n(run['rate'], 0)} | {run.get('tier', 'free')} "
            f"| {_n(run['written_in_s'], 1)} "
            f"| {_n(run['answer_p50_ms'], 0)} / "
            f"{_n(run['answer_p99_ms'], 0)} / {_n(run['answer_max_ms'], 0)} | {_n(run['all_shown_after_s'], 1)} "
            f"({run['cases_shown']} shown) | {_n(run['plan_late_max_s'], 1)} | {run['flood_limited']} "
            f"| {_n(run.get('paid_broadcasts', 0))} ({_n(run.get('stars_spent', 0), 1)}) |"
        )
    return lines


def _peer(p: dict[str, Any]) -> list[str]:
    naive = p["naive"]
    lines = [
        "## 5. Against the naive design",
        "",
        f"{_n(p['messages'])} scheduled messages. Naive: one JobQueue.run_once job per message, in memory "
        "(lost on restart). This bot: the rows in the database, start-up up to the first pass and the "
        "next wake-up.",
        "",
        "| Design | Start-up s | RSS MiB | RSS above imports MiB |",
        "| --- | --- | --- | --- |",
        f"| one APScheduler job per message | {_n(naive['start_seconds'], 2)} | {_n(naive['rss_mb'], 1)} | "
        f"{_n(naive['rss_mb'] - naive['imported_rss_mb'], 1)} |",
    ]
    for backend, bot in p["bot"].items():
        lines.append(f"| this bot, {backend} | {_n(bot['start_seconds'], 2)} | {_n(bot['rss_mb'], 1)} | "
                     f"{_n(bot['rss_mb'] - bot['imported_rss_mb'], 1)} |")
    lines.append("")
    for backend, ratio in p["ratios"].items():
        lines.append(f"- {backend}: start-up naive/bot **{_n(ratio['start_time_naive_over_bot'], 1)}×**, "
                     f"RSS naive/bot **{_n(ratio['rss_naive_over_bot'], 2)}×** "
                     f"({_n(ratio['rss_added_naive_over_bot'], 1)}× above the imports)")
    return lines


def _report(r: dict[str, Any]) -> list[str]:
    lines = [
        "## 6. The manager's report",
        "",
        "Its figures computed in the database (GROUP BY and window functions; the median of the runs after a "
        "first one that connects), for a year holding every row and for the last 30 days; then the chart drawn.",
        "",
        "| Backend | Plan messages | Cases | Year s (max) | 30 days s (max) | Chart s | Seeding s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['backend']} | {_n(row['deliveries'])} | {_n(row['cases'])} | {_n(row['year_seconds'], 2)} "
            f"({_n(row['year_max_seconds'], 2)}) | {_n(row['month_seconds'], 2)} ({_n(row['month_max_seconds'], 2)}) "
            f"| {_n(row['draw_seconds'], 2)} | {_n(row['seed_seconds'], 0)} |"
        )
    return lines
