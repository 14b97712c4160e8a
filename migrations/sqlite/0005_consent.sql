-- Consent and a stable default project (issue 10).
-- An owner no longer adds a user to a project: the owner invites, and the user accepts (the
-- admin token still adds directly). Invitations live in their own table, so no query that
-- asks "is this user a member?" can mistake a pending invitation for a membership.
CREATE TABLE invitations (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX invitations_user ON invitations(user_id);

-- The project a PAT acts in when X-PROJECT-ID is omitted (and it is not scoped): stored,
-- set to the user's first project, changed only by the user. It used to be derived ("the
-- user's only project"), so anyone adding the user elsewhere changed it. Users with exactly
-- one project keep that one; users with several named X-PROJECT-ID before and still must,
-- until they choose a default.
ALTER TABLE users ADD COLUMN default_project_id TEXT REFERENCES projects(id) ON DELETE SET NULL;
UPDATE users SET default_project_id = (
    SELECT m.project_id FROM memberships m WHERE m.user_id = users.id
) WHERE (SELECT COUNT(*) FROM memberships m WHERE m.user_id = users.id) = 1;
