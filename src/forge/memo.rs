//! [`Memo`]: answers fetched ahead, by hints, handed out once to the questions that match.
//!
//! The grant pipeline asks its questions one after another, each with arguments it has
//! confirmed (the run id from the verified token, the PR the run lists, ...). Asked that way
//! over the network they cost a round trip each. Instead, the pipeline first asks, all at
//! once, the questions it expects from the hints it has (the event file, `GITHUB_RUN_ID`, the
//! unverified claims of the job token): [`Memo::prefetch`]. Then the same pipeline runs
//! against the `Memo`, which implements [`Forge`]: a question whose arguments equal a
//! prefetched one takes that answer (the API's own, errors included); any other question
//! goes to the network as before.
//!
//! SECURITY: a hint only chooses what is fetched early, never what is believed: the pipeline
//! asks with confirmed arguments, and an answer is handed out only for exactly the question
//! that fetched it. A wrong hint costs a round trip, not a wrong fact.
//!
//! Each answer is handed out **once**: asking the same question twice (the PR head read
//! again after the reviews; the comments read again after posting) reaches the network, or
//! a second prefetched answer that was itself read later.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use super::{
    Comment, DeploymentReview, Forge, ForgeResult, LabelEvent, Membership, PermissionAnswer,
    PullRequest, RepoRef, Repository, Review, RunInfo, UserRef, Viewer,
};

/// A question to the forge, with its arguments (logins lower-cased, as GitHub compares them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ask {
    Repository(RepoRef),
    Policy(RepoRef, String, Option<String>),
    PullRequest(RepoRef, u64),
    Reviews(RepoRef, u64),
    PrCommitAuthors(RepoRef, u64),
    Permission(RepoRef, String),
    TeamVisible(String, String),
    TeamMembership(String, String, String),
    LabelEvent(RepoRef, u64, String),
    CommitMessage(RepoRef, String),
    CommitPulls(RepoRef, String),
    Run(RepoRef, u64),
    RunApprovals(RepoRef, u64),
    Comments(RepoRef, u64),
    Viewer,
}

/// An answer, as the forge gave it.
#[derive(Debug, Clone)]
enum Answer {
    Repository(ForgeResult<Repository>),
    Text(ForgeResult<String>),
    PullRequest(ForgeResult<Option<PullRequest>>),
    Reviews(ForgeResult<Vec<Review>>),
    Users(ForgeResult<Vec<UserRef>>),
    Permission(ForgeResult<PermissionAnswer>),
    Unit(ForgeResult<()>),
    Membership(ForgeResult<Membership>),
    LabelEvent(ForgeResult<Option<LabelEvent>>),
    Pulls(ForgeResult<Vec<PullRequest>>),
    Run(ForgeResult<RunInfo>),
    Approvals(ForgeResult<Vec<DeploymentReview>>),
    Comments(ForgeResult<Vec<Comment>>),
    Viewer(ForgeResult<Viewer>),
}

/// A [`Forge`] in front of another, with answers fetched ahead. See the module docs.
pub struct Memo<'f, F: Forge> {
    inner: &'f F,
    answers: Mutex<HashMap<Ask, VecDeque<Answer>>>,
}

impl<'f, F: Forge> Memo<'f, F> {
    pub fn new(inner: &'f F) -> Self {
        Self {
            inner,
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// The forge behind the memo (for the questions that must not be answered from it).
    pub fn inner(&self) -> &'f F {
        self.inner
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Ask, VecDeque<Answer>>> {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks every question at once (duplicates once) and keeps the answers.
    pub async fn prefetch(&self, asks: Vec<Ask>) {
        let mut unique: Vec<Ask> = Vec::with_capacity(asks.len());
        for ask in asks {
            if !unique.contains(&ask) {
                unique.push(ask);
            }
        }
        let answers = futures_util::future::join_all(unique.into_iter().map(|ask| async move {
            let answer = self.fetch(&ask).await;
            (ask, answer)
        }))
        .await;
        let mut map = self.lock();
        for (ask, answer) in answers {
            map.entry(ask).or_default().push_back(answer);
        }
    }

    /// The answer kept for `ask`, without handing it out (to plan the next prefetch).
    pub fn peek_pull_request(&self, repo: &RepoRef, number: u64) -> Option<PullRequest> {
        match self
            .lock()
            .get(&Ask::PullRequest(repo.clone(), number))?
            .front()?
        {
            Answer::PullRequest(Ok(pr)) => pr.clone(),
            _ => None,
        }
    }

    /// The reviews kept for the PR, without handing them out.
    pub fn peek_reviews(&self, repo: &RepoRef, number: u64) -> Vec<Review> {
        match self
            .lock()
            .get(&Ask::Reviews(repo.clone(), number))
            .and_then(VecDeque::front)
        {
            Some(Answer::Reviews(Ok(r))) => r.clone(),
            _ => Vec::new(),
        }
    }

    /// The run kept for `run_id`, without handing it out.
    pub fn peek_run(&self, repo: &RepoRef, run_id: u64) -> Option<RunInfo> {
        match self.lock().get(&Ask::Run(repo.clone(), run_id))?.front()? {
            Answer::Run(Ok(run)) => Some(run.clone()),
            _ => None,
        }
    }

    /// The label event kept, without handing it out.
    pub fn peek_label_event(&self, repo: &RepoRef, number: u64, label: &str) -> Option<LabelEvent> {
        match self
            .lock()
            .get(&Ask::LabelEvent(repo.clone(), number, label.to_string()))?
            .front()?
        {
            Answer::LabelEvent(Ok(e)) => e.clone(),
            _ => None,
        }
    }

    /// The policy text kept, without handing it out.
    pub fn peek_policy(&self, repo: &RepoRef, path: &str) -> Option<String> {
        match self
            .lock()
            .get(&Ask::Policy(repo.clone(), path.to_string(), None))?
            .front()?
        {
            Answer::Text(Ok(text)) => Some(text.clone()),
            _ => None,
        }
    }

    /// The commit message kept for `sha`, without handing it out.
    pub fn peek_commit_message(&self, repo: &RepoRef, sha: &str) -> Option<String> {
        match self
            .lock()
            .get(&Ask::CommitMessage(repo.clone(), sha.to_string()))?
            .front()?
        {
            Answer::Text(Ok(text)) => Some(text.clone()),
            _ => None,
        }
    }

    /// The PRs kept for a pushed commit, without handing them out.
    pub fn peek_commit_pulls(&self, repo: &RepoRef, sha: &str) -> Vec<PullRequest> {
        match self
            .lock()
            .get(&Ask::CommitPulls(repo.clone(), sha.to_string()))
            .and_then(VecDeque::front)
        {
            Some(Answer::Pulls(Ok(p))) => p.clone(),
            _ => Vec::new(),
        }
    }

    fn take(&self, ask: &Ask) -> Option<Answer> {
        let mut map = self.lock();
        let queue = map.get_mut(ask)?;
        let answer = queue.pop_front();
        if queue.is_empty() {
            map.remove(ask);
        }
        answer
    }

    async fn fetch(&self, ask: &Ask) -> Answer {
        let f = self.inner;
        match ask {
            Ask::Repository(r) => Answer::Repository(f.repository(r).await),
            Ask::Policy(r, path, git_ref) => {
                Answer::Text(f.policy_file(r, path, git_ref.as_deref()).await)
            }
            Ask::PullRequest(r, n) => Answer::PullRequest(f.pull_request(r, *n).await),
            Ask::Reviews(r, n) => Answer::Reviews(f.reviews(r, *n).await),
            Ask::PrCommitAuthors(r, n) => Answer::Users(f.pr_commit_authors(r, *n).await),
            Ask::Permission(r, login) => Answer::Permission(f.permission(r, login).await),
            Ask::TeamVisible(org, team) => Answer::Unit(f.team_visible(org, team).await),
            Ask::TeamMembership(org, team, login) => {
                Answer::Membership(f.team_membership(org, team, login).await)
            }
            Ask::LabelEvent(r, n, label) => {
                Answer::LabelEvent(f.latest_label_event(r, *n, label).await)
            }
            Ask::CommitMessage(r, sha) => Answer::Text(f.commit_message(r, sha).await),
            Ask::CommitPulls(r, sha) => Answer::Pulls(f.commit_pulls(r, sha).await),
            Ask::Run(r, id) => Answer::Run(f.run(r, *id).await),
            Ask::RunApprovals(r, id) => Answer::Approvals(f.run_approvals(r, *id).await),
            Ask::Comments(r, n) => Answer::Comments(f.comments(r, *n).await),
            Ask::Viewer => Answer::Viewer(f.viewer().await),
        }
    }
}

/// Takes the prefetched answer of the expected kind, or asks the network.
macro_rules! answer {
    ($self:ident, $ask:expr, $variant:ident, $fetch:expr) => {{
        match $self.take(&$ask) {
            Some(Answer::$variant(answer)) => answer,
            _ => $fetch.await,
        }
    }};
}

impl<F: Forge> Forge for Memo<'_, F> {
    async fn repository(&self, repo: &RepoRef) -> ForgeResult<Repository> {
        answer!(
            self,
            Ask::Repository(repo.clone()),
            Repository,
            self.inner.repository(repo)
        )
    }

    async fn policy_file(
        &self,
        repo: &RepoRef,
        path: &str,
        git_ref: Option<&str>,
    ) -> ForgeResult<String> {
        let ask = Ask::Policy(repo.clone(), path.to_string(), git_ref.map(str::to_string));
        answer!(self, ask, Text, self.inner.policy_file(repo, path, git_ref))
    }

    async fn pull_request(&self, repo: &RepoRef, number: u64) -> ForgeResult<Option<PullRequest>> {
        answer!(
            self,
            Ask::PullRequest(repo.clone(), number),
            PullRequest,
            self.inner.pull_request(repo, number)
        )
    }

    async fn reviews(&self, repo: &RepoRef, number: u64) -> ForgeResult<Vec<Review>> {
        answer!(
            self,
            Ask::Reviews(repo.clone(), number),
            Reviews,
            self.inner.reviews(repo, number)
        )
    }

    async fn pr_commit_authors(&self, repo: &RepoRef, number: u64) -> ForgeResult<Vec<UserRef>> {
        answer!(
            self,
            Ask::PrCommitAuthors(repo.clone(), number),
            Users,
            self.inner.pr_commit_authors(repo, number)
        )
    }

    async fn permission(&self, repo: &RepoRef, login: &str) -> ForgeResult<PermissionAnswer> {
        answer!(
            self,
            Ask::Permission(repo.clone(), login.to_ascii_lowercase()),
            Permission,
            self.inner.permission(repo, login)
        )
    }

    async fn viewer(&self) -> ForgeResult<Viewer> {
        answer!(self, Ask::Viewer, Viewer, self.inner.viewer())
    }

    async fn team_visible(&self, org: &str, team: &str) -> ForgeResult<()> {
        let ask = Ask::TeamVisible(org.to_ascii_lowercase(), team.to_ascii_lowercase());
        answer!(self, ask, Unit, self.inner.team_visible(org, team))
    }

    async fn team_membership(&self, org: &str, team: &str, login: &str) -> ForgeResult<Membership> {
        let ask = Ask::TeamMembership(
            org.to_ascii_lowercase(),
            team.to_ascii_lowercase(),
            login.to_ascii_lowercase(),
        );
        answer!(
            self,
            ask,
            Membership,
            self.inner.team_membership(org, team, login)
        )
    }

    async fn latest_label_event(
        &self,
        repo: &RepoRef,
        number: u64,
        label: &str,
    ) -> ForgeResult<Option<LabelEvent>> {
        let ask = Ask::LabelEvent(repo.clone(), number, label.to_string());
        answer!(
            self,
            ask,
            LabelEvent,
            self.inner.latest_label_event(repo, number, label)
        )
    }

    async fn commit_message(&self, repo: &RepoRef, sha: &str) -> ForgeResult<String> {
        let ask = Ask::CommitMessage(repo.clone(), sha.to_string());
        answer!(self, ask, Text, self.inner.commit_message(repo, sha))
    }

    async fn commit_pulls(&self, repo: &RepoRef, sha: &str) -> ForgeResult<Vec<PullRequest>> {
        let ask = Ask::CommitPulls(repo.clone(), sha.to_string());
        answer!(self, ask, Pulls, self.inner.commit_pulls(repo, sha))
    }

    async fn run(&self, repo: &RepoRef, run_id: u64) -> ForgeResult<RunInfo> {
        answer!(
            self,
            Ask::Run(repo.clone(), run_id),
            Run,
            self.inner.run(repo, run_id)
        )
    }

    async fn run_approvals(
        &self,
        repo: &RepoRef,
        run_id: u64,
    ) -> ForgeResult<Vec<DeploymentReview>> {
        answer!(
            self,
            Ask::RunApprovals(repo.clone(), run_id),
            Approvals,
            self.inner.run_approvals(repo, run_id)
        )
    }

    async fn comments(&self, repo: &RepoRef, number: u64) -> ForgeResult<Vec<Comment>> {
        answer!(
            self,
            Ask::Comments(repo.clone(), number),
            Comments,
            self.inner.comments(repo, number)
        )
    }

    async fn create_comment(
        &self,
        repo: &RepoRef,
        number: u64,
        body: &str,
    ) -> ForgeResult<Comment> {
        self.inner.create_comment(repo, number, body).await
    }

    async fn update_comment(
        &self,
        repo: &RepoRef,
        comment_id: u64,
        body: &str,
    ) -> ForgeResult<Comment> {
        self.inner.update_comment(repo, comment_id, body).await
    }
}
