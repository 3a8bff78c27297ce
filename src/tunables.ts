// Restart and stop timing, chosen once for both service managers; docs/design.md says why.

/** launchd: at least this many seconds between two starts of a job (its default is 10). */
export const LAUNCHD_THROTTLE_INTERVAL = 30;

/** Seconds between SIGTERM and SIGKILL when the job is stopped: a guest needs time to shut down. */
export const STOP_TIMEOUT_SEC = 300;

/** systemd: wait before a restart after a failure. */
export const SYSTEMD_RESTART_SEC = 10;

/** systemd: give up after this many starts within the interval (a crash loop, not a crash). */
export const SYSTEMD_START_LIMIT_BURST = 5;
export const SYSTEMD_START_LIMIT_INTERVAL_SEC = 600;

/** How long `limactl --version` may take before the check gives up (a hung or very slow limactl). */
export const LIMACTL_VERSION_TIMEOUT_MS = 2000;

/** How long `limactl list --json` may take before status goes on without Lima's view. */
export const LIMA_LIST_TIMEOUT_MS = 2000;

/**
 * After a bootout that stopped a running job: how long to wait until launchd has forgotten the
 * job and Lima reports the instance stopped. The same bound the plist gives the host agent to stop.
 */
export const SETTLE_TIMEOUT_SEC = STOP_TIMEOUT_SEC;

/** How long a bootstrap that fails with 37 or 5 right after a bootout is tried again. */
export const BOOTSTRAP_RETRY_SEC = 30;

/** The interval between two tries of either wait. */
export const POLL_INTERVAL_MS = 500;

/** `enable --now --wait`: how long it waits for Lima to report the instance Running, unless given. */
export const WAIT_TIMEOUT_SEC = 600;

/** `enable --now --wait` without a terminal: a progress line at least this often while Lima's status stays the same. */
export const WAIT_PROGRESS_MS = 5000;

/** How many of the log's last lines a failed `--wait` shows. */
export const WAIT_LOG_LINES = 20;

/** `logs`: how many of the last lines it shows, unless -n says. */
export const LOG_LINES = 50;
