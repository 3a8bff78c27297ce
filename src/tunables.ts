// Restart, stop and wait timing, chosen once for both service managers (docs/design.md says why).

/** launchd: at least this many seconds between two starts of a job (its default is 10). */
export const LAUNCHD_THROTTLE_INTERVAL = 30;
/** Seconds between SIGTERM and SIGKILL when the job is stopped: a guest needs time to shut down. */
export const STOP_TIMEOUT_SEC = 300;
/** systemd: the pause before a restart, and the start limit (a crash loop, not a crash). */
export const SYSTEMD_RESTART_SEC = 10;
export const SYSTEMD_START_LIMIT_BURST = 5;
export const SYSTEMD_START_LIMIT_INTERVAL_SEC = 600;

/**
 * How long a question that changes nothing (`limactl --version`, `list --json`, a settle check,
 * the journal) may take before the program goes on without its answer.
 */
export const QUESTION_TIMEOUT_MS = 2000;
/** After a bootout that stopped a running job: as long as the job has to stop. */
export const SETTLE_TIMEOUT_SEC = STOP_TIMEOUT_SEC;
/** How long a bootstrap that fails with 37 or 5 right after a bootout is tried again. */
export const BOOTSTRAP_RETRY_SEC = 30;
export const POLL_INTERVAL_MS = 1000;
/** After a bootout: a VM takes tens of seconds to shut down, so launchd and Lima are asked less often. */
export const SETTLE_INTERVAL_MS = 5000;
/** How long a run waits for another one's lock: long enough for a sudo prompt. */
export const LOCK_WAIT_SEC = 180;

/** `enable --now --wait`: the bound unless given; a progress line at least this often without a terminal; log lines shown. */
export const WAIT_TIMEOUT_SEC = 600;
export const WAIT_PROGRESS_MS = 5000;
export const WAIT_LOG_LINES = 20;
/** `logs`: the last lines shown, unless -n says. */
export const LOG_LINES = 50;
/** `logs`: a longer line is cut, as a longer text in a message is. */
export const LOG_LINE_MAX = 4096;
/** The most `logs -n` and `--wait` take: beyond, a number is a typo, not a wish. */
export const LOG_LINES_MAX = 1_000_000;
export const WAIT_MAX_SEC = 7 * 24 * 3600;
/** `status`: how long the host agent's API and the guest's SSH get to answer, each. */
export const REACH_TIMEOUT_MS = 2000;
