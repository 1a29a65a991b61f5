//! Who answers the context's questions: the oracle in this process ([`InProcess`]) or
//! workers elsewhere (`store::Remote`).
//!
//! A question ([`Ask`]) is a schedule and what is asked about it: a full evaluation or a
//! threshold decision that carries its threshold, so whoever answers it answers exactly
//! the question the oracle would answer in process. The oracle is deterministic bit for bit
//! (whatever the threads, chunking or cache), so every executor gives the same answers, and
//! the context records them in the order it asked: records never depend on the executor.

use super::{Judged, SearchError};
use crate::oracle::{Oracle, Prefixes};
use crate::schedule::Schedule;

/// What is asked about a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Question {
    /// A full evaluation.
    Evaluate,
    /// "At least `min_correct` right (and, if `batch_safe`, no unsafe image)?", decided
    /// with the oracle's early exit.
    Accepts {
        min_correct: usize,
        batch_safe: bool,
    },
}

/// One question for an executor.
#[derive(Clone, Debug)]
pub struct Ask {
    pub schedule: Schedule,
    pub question: Question,
    /// Whether the run keeps its prefix states (a hint; never changes the answer).
    pub prefixes: Prefixes,
}

/// The answer to an [`Ask`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Answer {
    Evaluated(Judged),
    /// A decision; `judged` when the answerer evaluated the schedule fully anyway.
    Decided {
        accepted: bool,
        judged: Option<Judged>,
    },
}

impl Answer {
    /// The answer to `question` that this answer implies, if any: an evaluation answers any
    /// decision; a decision answers only itself (the caller matches the question).
    pub fn to(&self, question: Question) -> Option<Answer> {
        match (*self, question) {
            (Answer::Evaluated(j), Question::Evaluate) => Some(Answer::Evaluated(j)),
            (
                Answer::Evaluated(j),
                Question::Accepts {
                    min_correct,
                    batch_safe,
                },
            ) => Some(Answer::Decided {
                accepted: j.correct >= min_correct && (!batch_safe || j.unsafe_images == 0),
                judged: Some(j),
            }),
            (
                Answer::Decided {
                    judged: Some(j), ..
                },
                Question::Evaluate,
            ) => Some(Answer::Evaluated(j)),
            (Answer::Decided { .. }, Question::Evaluate) => None,
            (d @ Answer::Decided { .. }, Question::Accepts { .. }) => Some(d),
        }
    }
}

/// Answers questions, in order.
pub trait Executor {
    /// The answers to `asks`, one per ask, in order.
    fn answer(&mut self, asks: &[Ask]) -> Result<Vec<Answer>, SearchError>;

    /// Questions the strategy may ask soon (a hint: an executor with idle workers starts on
    /// them; the in-process one ignores it, so its oracle does exactly what is asked).
    fn prefetch(&mut self, _asks: &[Ask]) -> Result<(), SearchError> {
        Ok(())
    }
}

/// The oracle of this process.
pub struct InProcess<'a> {
    pub oracle: &'a Oracle,
}

impl Executor for InProcess<'_> {
    fn answer(&mut self, asks: &[Ask]) -> Result<Vec<Answer>, SearchError> {
        asks.iter()
            .map(|ask| answer_one(self.oracle, ask))
            .collect()
    }
}

/// The oracle's answer to one question (what a worker computes too).
pub fn answer_one(oracle: &Oracle, ask: &Ask) -> Result<Answer, SearchError> {
    Ok(match ask.question {
        Question::Evaluate => {
            let e = oracle.evaluate_with(&ask.schedule, ask.prefixes)?;
            Answer::Evaluated(Judged {
                accuracy: e.accuracy,
                correct: e.correct,
                unsafe_images: e.unsafe_images.len(),
            })
        }
        Question::Accepts {
            min_correct,
            batch_safe,
        } => Answer::Decided {
            accepted: oracle.accepts_with(&ask.schedule, min_correct, batch_safe, ask.prefixes)?,
            judged: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evaluation_answers_every_decision_and_a_bare_decision_only_itself() {
        let j = Judged {
            accuracy: 0.5,
            correct: 5,
            unsafe_images: 1,
        };
        let e = Answer::Evaluated(j);
        let ask = |min_correct, batch_safe| Question::Accepts {
            min_correct,
            batch_safe,
        };
        let accepted = |a: Option<Answer>| match a {
            Some(Answer::Decided { accepted, .. }) => accepted,
            other => panic!("{other:?}"),
        };
        assert!(accepted(e.to(ask(5, false))));
        assert!(!accepted(e.to(ask(6, false))));
        assert!(!accepted(e.to(ask(5, true))));
        let bare = Answer::Decided {
            accepted: true,
            judged: None,
        };
        assert_eq!(bare.to(Question::Evaluate), None);
        assert_eq!(e.to(Question::Evaluate), Some(e));
    }
}
