//! A registration that passed every rule. Fields are checked in the order a
//! form shows them, and the first failure is reported, naming its field.

use super::{ContactNumber, Email, Location, Password, PersonName, ValidationError};

/// The raw registration fields, as received.
#[derive(Clone, Copy)]
pub struct NewUserInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub location: &'a str,
    pub contact_number: &'a str,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub password: Password,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub location: Location,
    pub contact_number: ContactNumber,
}

impl NewUser {
    pub fn parse(input: NewUserInput<'_>) -> Result<Self, ValidationError> {
        Ok(Self {
            email: Email::parse(input.email)?,
            password: Password::parse(input.password)?,
            first_name: PersonName::parse("firstName", input.first_name)?,
            last_name: PersonName::parse("lastName", input.last_name)?,
            location: Location::parse(input.location)?,
            contact_number: ContactNumber::parse(input.contact_number)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> NewUserInput<'static> {
        NewUserInput {
            email: "ada@example.com",
            password: "correct horse battery",
            first_name: "Ada",
            last_name: "O'Brien",
            location: "London",
            contact_number: "+442079460958",
        }
    }

    #[test]
    fn a_complete_registration_parses() {
        let user = NewUser::parse(valid()).unwrap();
        assert_eq!(user.last_name.as_str(), "O'Brien");
    }

    #[test]
    fn each_bad_field_is_reported_by_its_client_name() {
        let cases: [(&str, NewUserInput<'static>); 6] = [
            (
                "email",
                NewUserInput {
                    email: "nope",
                    ..valid()
                },
            ),
            (
                "password",
                NewUserInput {
                    password: "short",
                    ..valid()
                },
            ),
            (
                "firstName",
                NewUserInput {
                    first_name: "4da",
                    ..valid()
                },
            ),
            (
                "lastName",
                NewUserInput {
                    last_name: "",
                    ..valid()
                },
            ),
            (
                "location",
                NewUserInput {
                    location: " ",
                    ..valid()
                },
            ),
            (
                "contactNumber",
                NewUserInput {
                    contact_number: "12",
                    ..valid()
                },
            ),
        ];
        for (field, input) in cases {
            assert_eq!(NewUser::parse(input).unwrap_err().field, field);
        }
    }
}
