-- Migration 001 (the seed's 20251207000000_fix_execution_status_priority.sql):
-- replaces get_task_execution_context(:task_uuid, :now) so that
-- blocked_by_failures takes semantic priority over has_ready_steps.
WITH ast AS (
    SELECT
        COUNT(*) AS total_steps,
        SUM(CASE WHEN state = 'pending'
                   OR (state = 'error' AND retryable = 1 AND attempts < max_attempts
                       AND backoff_until <= :now)
                 THEN 1 ELSE 0 END) AS ready_steps,
        SUM(CASE WHEN state = 'error' AND (retryable = 0 OR attempts >= max_attempts)
                 THEN 1 ELSE 0 END) AS permanently_blocked_steps,
        SUM(CASE WHEN state = 'in_progress' THEN 1 ELSE 0 END) AS in_progress_steps,
        SUM(CASE WHEN state = 'complete' THEN 1 ELSE 0 END) AS completed_steps
    FROM workflow_steps
    WHERE task_uuid = :task_uuid
)
SELECT
    CASE
        WHEN COALESCE(ast.permanently_blocked_steps, 0) > 0 THEN 'blocked_by_failures' -- <- Now FIRST
        WHEN COALESCE(ast.ready_steps, 0) > 0 THEN 'has_ready_steps'
        WHEN COALESCE(ast.in_progress_steps, 0) > 0 THEN 'processing'
        WHEN ast.completed_steps = ast.total_steps THEN 'all_complete'
        ELSE 'waiting_for_dependencies'
    END AS execution_status,
    COALESCE(ast.ready_steps, 0) AS ready_steps,
    COALESCE(ast.permanently_blocked_steps, 0) AS permanently_blocked_steps,
    COALESCE(ast.in_progress_steps, 0) AS in_progress_steps,
    COALESCE(ast.completed_steps, 0) AS completed_steps,
    ast.total_steps AS total_steps
FROM ast
